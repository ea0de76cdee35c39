import net from 'node:net';
import { originClass, redirectClass, type RedirectClass } from '../nginx/redirect-policy.js';

/**
 * What the egress nginx may resolve a name to. nginx checks a redirect's Location by its text, so a
 * public-looking name that resolves to 127.0.0.1, 10.x or 169.254.169.254 would still lead it to this
 * machine's or its network's internal services (DNS rebinding). Its resolver is therefore regcache's
 * DNS filter (dns-filter-server.ts), which answers REFUSED for such names unless they are trusted:
 * an upstream's own host, a name in egress.redirectAllow, or an address of the class of an upstream
 * given by address (a registry at 10.0.0.5 with its CDN on that network too). Pure.
 */
export interface DnsPolicy {
  /** Lower-case host names (no trailing dot) that may resolve to any address. */
  trustedNames: ReadonlySet<string>;
  /** `*.domain` entries of egress.redirectAllow, as lower-case suffixes (".domain"). */
  trustedSuffixes: readonly string[];
  /** Classes of address every name may resolve to besides public ones (the upstreams' own). */
  trustedClasses: ReadonlySet<RedirectClass>;
}

export const NO_TRUST: DnsPolicy = { trustedNames: new Set(), trustedSuffixes: [], trustedClasses: new Set() };

/** The policy for a set of upstream origins (every mirror) and egress.redirectAllow. */
export function dnsPolicy(origins: readonly string[], redirectAllow: readonly string[]): DnsPolicy {
  const trustedNames = new Set<string>();
  const trustedClasses = new Set<RedirectClass>();
  for (const origin of origins) {
    const host = new URL(origin).hostname.toLowerCase();
    if (net.isIP(host.replace(/^\[|\]$/g, '')) === 0) {
      trustedNames.add(host.replace(/\.$/, ''));
      continue;
    }
    // An upstream at an internal address may send its clients to hosts of its own network.
    const cls = originClass(origin);
    if (cls === 'loopback' || cls === 'private') trustedClasses.add(cls);
  }
  const trustedSuffixes: string[] = [];
  for (const h of redirectAllow) {
    if (h.startsWith('*.')) trustedSuffixes.push(h.slice(1).toLowerCase());
    else trustedNames.add(h.toLowerCase());
  }
  return { trustedNames, trustedSuffixes, trustedClasses };
}

/** The class of an address a name resolved to. */
export function addressClass(address: string): RedirectClass {
  if (net.isIPv4(address)) return redirectClass(address);
  const a = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return addressClass(mapped[1]!);
  if (a === '::1') return 'loopback';
  if (a === '::' || /^fe[89ab]/.test(a) || /^ff/.test(a)) return 'never';
  if (/^f[cd]/.test(a)) return 'private';
  return 'public';
}

export function nameTrusted(policy: DnsPolicy, name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  return policy.trustedNames.has(n) || policy.trustedSuffixes.some((s) => n.endsWith(s));
}

export interface DnsAnswer {
  name: string;
  type: number;
  address: string | null;
}

export interface DnsMessage {
  id: number;
  questions: Array<{ name: string; type: number }>;
  /** End of the question section: the answer REFUSED keeps the header and the questions. */
  questionEnd: number;
  answers: DnsAnswer[];
}

const TYPE_A = 1;
const TYPE_AAAA = 28;

/** Reads a DNS message (RFC 1035); null when it is malformed. Only what the filter needs. */
export function parseDnsMessage(buf: Buffer): DnsMessage | null {
  try {
    if (buf.length < 12) return null;
    const id = buf.readUInt16BE(0);
    const qd = buf.readUInt16BE(4);
    const an = buf.readUInt16BE(6);
    let offset = 12;
    const questions: DnsMessage['questions'] = [];
    for (let i = 0; i < qd; i++) {
      const { name, next } = readName(buf, offset);
      questions.push({ name, type: buf.readUInt16BE(next) });
      offset = next + 4;
    }
    const questionEnd = offset;
    const answers: DnsAnswer[] = [];
    for (let i = 0; i < an; i++) {
      const { name, next } = readName(buf, offset);
      const type = buf.readUInt16BE(next);
      const length = buf.readUInt16BE(next + 8);
      const data = next + 10;
      if (data + length > buf.length) return null;
      let address: string | null = null;
      if (type === TYPE_A && length === 4) address = [...buf.subarray(data, data + 4)].join('.');
      if (type === TYPE_AAAA && length === 16) address = ipv6(buf.subarray(data, data + 16));
      answers.push({ name, type, address });
      offset = data + length;
    }
    return { id, questions, questionEnd, answers };
  } catch {
    return null;
  }
}

/**
 * The answer nginx gets for `response`: unchanged when every address in it is allowed, else REFUSED
 * (header and questions kept, no records), and a reason for the log. A malformed response is refused.
 */
export function filterDnsResponse(response: Buffer, policy: DnsPolicy): { answer: Buffer; refused: string | null } {
  const m = parseDnsMessage(response);
  if (!m) return { answer: refusedFor(response, Math.min(response.length, 12)), refused: 'malformed answer' };
  for (const a of m.answers) {
    if (a.address === null) continue;
    const cls = addressClass(a.address);
    if (cls === 'public' || nameTrusted(policy, m.questions[0]?.name ?? a.name)) continue;
    if (cls !== 'never' && policy.trustedClasses.has(cls)) continue;
    return { answer: refusedFor(response, m.questionEnd), refused: `${m.questions[0]?.name ?? a.name} resolves to ${a.address} (${cls})` };
  }
  return { answer: response, refused: null };
}

function refusedFor(response: Buffer, questionEnd: number): Buffer {
  const out = Buffer.alloc(Math.max(12, questionEnd));
  response.copy(out, 0, 0, Math.max(12, questionEnd));
  if (out.length < 12) return out;
  // QR=1, keep opcode and RD, RA=1, RCODE=5 (REFUSED); no answer, authority or additional records.
  out[2] = 0x80 | (out[2]! & 0x79);
  out[3] = 0x80 | 5;
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  return out;
}

function readName(buf: Buffer, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let offset = start;
  let next = -1;
  for (let hops = 0; hops < 64; hops++) {
    const len = buf[offset];
    if (len === undefined) throw new Error('truncated name');
    if (len === 0) {
      if (next < 0) next = offset + 1;
      return { name: labels.join('.'), next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (next < 0) next = offset + 2;
      offset = buf.readUInt16BE(offset) & 0x3fff;
      continue;
    }
    labels.push(buf.toString('latin1', offset + 1, offset + 1 + len));
    offset += 1 + len;
  }
  throw new Error('name compression loop');
}

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Canonical enough for classification: a mapped IPv4 keeps its dotted form.
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return net.isIPv6(groups.join(':')) ? compress(groups) : groups.join(':');
}

function compress(groups: string[]): string {
  const full = groups.join(':');
  if (full === '0:0:0:0:0:0:0:1') return '::1';
  if (full === '0:0:0:0:0:0:0:0') return '::';
  return full;
}
