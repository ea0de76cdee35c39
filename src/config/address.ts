import { isIPv6 } from 'node:net';

/** A TCP listen address, as nginx and Node take it. */
export interface ListenAddress {
  host: string;
  port: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Parses `"5000"`, `5000`, `"ipv4:port"` or `"[ipv6]:port"`; returns an error message instead of throwing.
 * The host is an address, never a name: nginx would resolve a name when it loads the config and
 * listen on whatever that answers.
 */
export function parseListen(input: string | number, defaultHost: string): ListenAddress | string {
  const text = String(input).trim();
  let host = defaultHost;
  let portText = text;
  const bracketed = /^\[([^\]]*)\]:(\d+)$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!.toLowerCase();
    portText = bracketed[2]!;
    if (!isIPv6(host)) return `"[${host}]" is not an IPv6 address`;
  } else if (text.includes(':')) {
    const idx = text.lastIndexOf(':');
    host = text.slice(0, idx).toLowerCase();
    portText = text.slice(idx + 1);
    if (!IPV4.test(host)) return `"${host}" is not an IPv4 address (or [IPv6] in brackets); listen takes an address, not a name`;
  }
  if (!/^\d{1,5}$/.test(portText)) return `"${text}" is not a port or host:port`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `port ${port} is out of range 1-65535`;
  return { host, port };
}

export function formatListen(address: ListenAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export function isDnsName(name: string): boolean {
  return HOSTNAME.test(name);
}

/** Words nginx's `map` reads as parameters, not as a key, wherever they stand (quoted or not). */
const NGINX_MAP_KEYWORDS = new Set(['default', 'hostnames', 'include', 'volatile']);

/** Whether a host or registry name would be read by nginx as a `map` keyword. */
export function nginxKeyword(name: string): boolean {
  return NGINX_MAP_KEYWORDS.has(name.toLowerCase());
}
