import net from 'node:net';

/**
 * Which redirect targets the egress nginx follows (issue 17.4: a redirecting upstream must not make
 * nginx fetch this machine's or its network's internal services for an anonymous client). Pure:
 * the PCRE patterns the egress template classifies a redirect's host with; the same patterns are
 * valid JavaScript regular expressions, which is how they are unit-tested (see redirectClass).
 *
 * A host is `public`, `loopback`, `private` (RFC 1918, carrier-grade NAT) or `never` (link-local and
 * cloud metadata, "this network", IPv6 literals, hex or short numeric forms, *.internal). A redirect is
 * followed to a public host, to a host of the upstream's own class (a registry on 127.0.0.1 with its
 * CDN on 127.0.0.1), or to a host in egress.redirectAllow; never to regcache's own loopback listeners.
 */

export type RedirectClass = 'public' | 'loopback' | 'private' | 'never';

/** An IPv4 octet as nginx's address parser reads it; no leading zeros, so `010.0.0.1` is not taken as public. */
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const REST3 = `\\.${OCTET}\\.${OCTET}\\.${OCTET}`;
const REST2 = `\\.${OCTET}\\.${OCTET}`;

/** Host (`$1`) and port (`$2`) of an absolute http(s) Location. Anything else but a path is refused. */
export const LOCATION_HOST = '^https?://(\\[[0-9a-fA-F:.]+\\]|[a-zA-Z0-9.-]+)(?::([0-9]{1,5}))?(?:[/?#]|$)';
export const LOCATION_WELL_FORMED = `${LOCATION_HOST}|^/`;

/** Checked in this order; the last match wins (as the template's `if` chain does). */
export const CLASS_PATTERNS: ReadonlyArray<{ cls: RedirectClass; pattern: string; caseless?: boolean }> = [
  { cls: 'never', pattern: '^\\[|\\.internal\\.?$|^0x', caseless: true },
  { cls: 'never', pattern: '^[0-9.]+$' },
  { cls: 'public', pattern: `^${OCTET}${REST3}$` },
  { cls: 'never', pattern: `^(?:0|169\\.254)\\.` },
  { cls: 'loopback', pattern: `^127${REST3}$` },
  { cls: 'loopback', pattern: '^(?:localhost|ip6-localhost|ip6-loopback)\\.?$|\\.localhost\\.?$', caseless: true },
  {
    cls: 'private',
    pattern: `^10${REST3}$|^192\\.168${REST2}$|^172\\.(?:1[6-9]|2[0-9]|3[01])${REST2}$|^100\\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])${REST2}$`,
  },
];

/** The class nginx gives `host` (before the allow-list and the own-listener rule). */
export function redirectClass(host: string): RedirectClass {
  let cls: RedirectClass = 'public';
  for (const p of CLASS_PATTERNS) if (new RegExp(p.pattern, p.caseless ? 'i' : '').test(host)) cls = p.cls;
  return cls;
}

/** An upstream's own class: redirects to hosts of that class are its business. IPv6 and link-local upstreams get none. */
export function originClass(origin: string): RedirectClass {
  const host = new URL(origin).hostname;
  if (host.startsWith('[') || net.isIPv6(host)) return 'never';
  return redirectClass(host);
}

/** egress.redirectAllow as one anchored, case-insensitive pattern; null when empty. */
export function redirectAllowPattern(hosts: readonly string[]): string | null {
  if (hosts.length === 0) return null;
  const alternatives = hosts.map((h) => (h.startsWith('*.') ? `(?:[a-z0-9-]+\\.)+${escape(h.slice(2))}` : escape(h)));
  return `^(?:${alternatives.join('|')})\\.?$`;
}

/** regcache's own loopback listeners as `loopback:<port>` alternatives: a redirect never leads to them. */
export function ownListenersPattern(ports: readonly number[]): string {
  return `^loopback:(?:${[...new Set(ports)].sort((a, b) => a - b).join('|')})$`;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
