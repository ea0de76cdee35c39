import net from 'node:net';

/**
 * Which redirect targets the egress nginx follows (issue 17.4: a redirecting upstream must not make
 * nginx fetch loopback or internal services for an anonymous client). Pure: builds the PCRE patterns
 * the egress template tests a redirect's host against; the same patterns are valid JavaScript
 * regular expressions, which is how they are unit-tested.
 */

/** An IPv4 octet as nginx's address parser reads it: no leading zeros, so `010.0.0.1` is not taken as public. */
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const QUAD = `${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}`;
/** Loopback, "this network", RFC 1918, link-local (cloud metadata) and carrier-grade NAT. */
const PRIVATE_V4_PREFIX = '(?:127|10|0|169\\.254|192\\.168|172\\.(?:1[6-9]|2[0-9]|3[01])|100\\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7]))\\.';

/** The host part of an absolute http(s) Location; `$1` in the template. Anything else is refused. */
export const LOCATION_HOST = '^https?://(\\[[0-9a-fA-F:.]+\\]|[a-zA-Z0-9.-]+)(?::[0-9]{1,5})?(?:[/?#]|$)';

/** A Location the egress may follow at all: an absolute http(s) URL with a plain host, or a path on the same origin. */
export const LOCATION_WELL_FORMED = `${LOCATION_HOST}|^/`;

/** A host made of digits and dots: an address, or something nginx or a resolver might read as one. */
export const NUMERIC_HOST = '^[0-9.]+$';

/** The one numeric form that is let through: a public dotted quad (not octal, short or private forms). */
export const PUBLIC_QUAD = `^(?!${PRIVATE_V4_PREFIX})${QUAD}$`;

/** Names and literals that are internal whatever DNS says: IPv6 literals, this machine, internal zones, hex. */
export const INTERNAL_NAME = '^\\[|^(?:localhost|ip6-localhost|ip6-loopback)\\.?$|\\.(?:localhost|internal)\\.?$|^0x';

/** True when the egress refuses to follow a redirect to `host` (before the allow-list). Mirrors the template's checks. */
export function internalHost(host: string): boolean {
  if (new RegExp(NUMERIC_HOST).test(host)) return !new RegExp(PUBLIC_QUAD).test(host);
  return new RegExp(INTERNAL_NAME, 'i').test(host);
}

/** The egress.redirectAllow list as one anchored, case-insensitive pattern; null when empty. */
export function redirectAllowPattern(hosts: readonly string[]): string | null {
  if (hosts.length === 0) return null;
  const alternatives = hosts.map((h) => {
    if (h.startsWith('*.')) return `(?:[a-z0-9-]+\\.)+${escape(h.slice(2))}`;
    return escape(h);
  });
  return `^(?:${alternatives.join('|')})\\.?$`;
}

/** Whether an upstream itself is internal: then redirects to internal hosts are its business (a local CDN). */
export function internalOrigin(origin: string): boolean {
  const host = new URL(origin).hostname.replace(/^\[|\]$/g, '');
  if (net.isIPv6(host)) return true;
  return internalHost(host);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
