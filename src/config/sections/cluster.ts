import { isIP } from 'node:net';
import { z } from 'zod';
import { isDnsName, parseListen, type ListenAddress } from '../address.js';
import { addProblem, readReferenced, safePath, type SectionContext } from './section-context.js';

/**
 * `cluster:` — several regcache nodes act as one cache, sharded by digest (docs/cluster.md).
 * Absent: a single node, rendered exactly as without this section.
 */

/** The header peers send the secret in (templates/nginx/cluster-*.ejs spell it too). */
export const PEER_HEADER = 'X-Regcache-Peer';

/** A peer as nginx reaches it: an IP address and a port (names only through `dns:`, re-resolved). */
export type PeerAddress = string;

// The secret lands in nginx config as a quoted header value and an `if` comparison: no quotes, `$`, `;`, spaces.
const SECRET = /^[A-Za-z0-9._~+/=:@%^-]{16,256}$/;
const SECRET_MESSAGE = "must be 16-256 characters of letters, digits and . _ ~ + / = : @ % ^ - (e.g. openssl rand -hex 32)";

const hostPort = (what: string) =>
  z.string({ invalid_type_error: `${what} must be a string "address:port"` }).superRefine((value, ctx) => {
    const problem = peerAddressProblem(value);
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
  });

const DNS_PEERS = /^dns:(.+):(\d{1,5})$/;

const peersSchema = z.union([
  z.array(hostPort('a peer')).min(1, 'must list at least one peer (this node included)').max(64, 'at most 64 peers'),
  z
    .string()
    .superRefine((value, ctx) => {
      const problem = dnsPeersProblem(value);
      if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    }),
]);

export const clusterSectionSchema = z
  .object({
    /** This node's peer listener (`address:port`); never the public listener. */
    listen: z.union([z.string(), z.number()]).superRefine((value, ctx) => {
      const parsed = parseListen(value, '0.0.0.0');
      if (typeof parsed === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed });
    }),
    /** The nodes' peer addresses (this one included), or `dns:<name>:<port>`, re-resolved periodically. */
    peers: peersSchema,
    /** The address peers know this node by; default: the peer whose address is one of this host's, on listen's port. */
    self: hostPort('self').optional(),
    /** Shared secret every peer request carries (header X-Regcache-Peer). */
    secret: z.union([z.string(), z.number()]).transform(String).optional(),
    /** File holding the secret (a Docker secret); read at load, trailing newline dropped. */
    secretFile: safePath.optional(),
  })
  .strict()
  .optional();

export type RawCluster = z.infer<typeof clusterSectionSchema>;

/** Static addresses, or a DNS name whose A/AAAA records (e.g. Swarm's tasks.<service>) are the peers. */
export type ClusterPeers = { kind: 'static'; addresses: PeerAddress[] } | { kind: 'dns'; name: string; port: number };

export interface ClusterConfig {
  listen: ListenAddress;
  peers: ClusterPeers;
  /** null: found among the peers by this host's addresses and listen's port (see cluster/membership.ts). */
  self: PeerAddress | null;
  secret: string;
}

export function toClusterConfig(raw: RawCluster, ctx: SectionContext): ClusterConfig | null {
  if (!raw) return null;
  const listen = parseListen(raw.listen, '0.0.0.0') as ListenAddress;
  const peers: ClusterPeers = Array.isArray(raw.peers)
    ? { kind: 'static', addresses: raw.peers.map(normalisePeer) }
    : dnsPeers(raw.peers);
  const self = raw.self === undefined ? null : normalisePeer(raw.self);
  if (peers.kind === 'static') {
    const seen = new Set<string>();
    peers.addresses.forEach((address, i) => {
      if (seen.has(address)) addProblem(ctx, ['cluster', 'peers', i], `${address} is listed twice`);
      seen.add(address);
    });
    if (self !== null && !seen.has(self)) addProblem(ctx, ['cluster', 'self'], `${self} is not one of cluster.peers (${peers.addresses.join(', ')})`);
  }
  if (self !== null && Number(self.slice(self.lastIndexOf(':') + 1)) !== listen.port) {
    addProblem(ctx, ['cluster', 'self'], `port must be cluster.listen's port ${listen.port}: peers reach this node's peer listener there`);
  }
  return { listen, peers, self, secret: secret(raw, ctx) };
}

function secret(raw: NonNullable<RawCluster>, ctx: SectionContext): string {
  if (raw.secret !== undefined && raw.secretFile !== undefined) {
    addProblem(ctx, ['cluster', 'secretFile'], 'set secret or secretFile, not both');
    return '';
  }
  let value: string;
  let at: string[];
  if (raw.secretFile !== undefined) {
    at = ['cluster', 'secretFile'];
    const file = readReferenced(ctx, at, raw.secretFile);
    if (!file) return '';
    value = file.text.replace(/\r?\n$/, '');
  } else if (raw.secret !== undefined) {
    at = ['cluster', 'secret'];
    value = raw.secret;
  } else {
    addProblem(ctx, ['cluster', 'secret'], 'is required: set secret (e.g. ${REGCACHE_CLUSTER_SECRET}) or secretFile; peers accept only requests carrying it');
    return '';
  }
  if (!SECRET.test(value)) addProblem(ctx, at, SECRET_MESSAGE);
  return value;
}

/** `10.0.0.1:5001` or `[fd00::1]:5001`; names are refused (nginx would resolve them once, at load). */
export function peerAddressProblem(value: string): string | null {
  const parsed = parseListen(value, '');
  if (typeof parsed === 'string') {
    return `"${value.slice(0, 80)}" must be address:port (an IP address; for a DNS name use peers: dns:<name>:<port>)`;
  }
  if (parsed.host === '' || !String(value).includes(':')) return `"${value}" must be address:port, with the address`;
  if (parsed.host === '0.0.0.0' || parsed.host === '::') return `"${value}" is a wildcard address; name the address peers reach`;
  if (isIP(parsed.host) === 0) return `"${value}" must be address:port`;
  return null;
}

function dnsPeersProblem(value: string): string | null {
  const match = DNS_PEERS.exec(value.trim());
  if (!match) return 'must be a list of address:port, or "dns:<name>:<port>" (e.g. dns:tasks.regcache:5001)';
  const name = match[1]!.toLowerCase();
  if (!isDnsName(name)) return `"${match[1]}" is not a DNS name`;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return `port ${port} is out of range 1-65535`;
  return null;
}

function dnsPeers(value: string): ClusterPeers {
  const match = DNS_PEERS.exec(value.trim())!;
  return { kind: 'dns', name: match[1]!.toLowerCase(), port: Number(match[2]) };
}

/** One spelling per address: lower case, IPv6 in brackets. */
export function normalisePeer(value: string): PeerAddress {
  const parsed = parseListen(value, '') as ListenAddress;
  return formatPeer(parsed.host, parsed.port);
}

export function formatPeer(host: string, port: number): PeerAddress {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
