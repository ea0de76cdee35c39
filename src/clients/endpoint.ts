import { isDnsName } from '../config/address.js';
import type { RegcacheConfig } from '../config/model.js';
import { firstMirrors, mirrorSorted } from '../config/mirror-order.js';
import { vhostLabel } from '../config/parse.js';

export { mirrorSorted };

/** `vhost`: each registry at `<name>.<host>`; `single`: every registry at one endpoint, routed by containerd's `ns`. */
export type ClientMode = 'vhost' | 'single';
export type EndpointScheme = 'http' | 'https';

/** Where clients reach the router: scheme, host and port, before any per-registry host name is added. */
export interface EndpointBase {
  scheme: EndpointScheme;
  host: string;
  port: number;
}

/** TLS settings for clients of an https endpoint. Ignored (with a warning) for plain http. */
export interface ClientTls {
  /** CA file on the client machine that signed the router's certificate. */
  caFile: string | null;
  skipVerify: boolean;
}

export interface ClientOptions {
  mode: ClientMode;
  base: EndpointBase;
  tls: ClientTls;
}

/** One cache as a client sees it: the mirror to try and the upstream to fall back to. */
export interface ClientEndpoint {
  /** The cache's name in registries.yaml. */
  registry: string;
  /** The registry host images are named by (`docker.io`): what clients key their mirror settings with. */
  mirrorOf: string;
  /** The registry's real upstream, e.g. `https://registry-1.docker.io`. */
  upstream: string;
  /** The mirror URL, e.g. `http://docker.io.registry.example.com:5000`. */
  url: string;
  /** `host[:port]` of the mirror as docker and k3s key their settings (`docker.io.registry.example.com:5000`). */
  hostPort: string;
  scheme: EndpointScheme;
  /** True when the router tells this registry apart by host, false when by containerd's `ns` parameter. */
  byHost: boolean;
}

const DEFAULT_PORT: Record<EndpointScheme, number> = { http: 80, https: 443 };

/**
 * The endpoint clients use by default: the config's domain and listen port, or https and the TLS
 * listener's port when the config has a tls section.
 */
export function endpointBaseFromConfig(config: RegcacheConfig): EndpointBase {
  if (config.tls) return { scheme: 'https', host: config.domain, port: config.tls.listen.port };
  return { scheme: 'http', host: config.domain, port: config.listen.port };
}

/** Parses an `--endpoint` override such as `http://registry-cache:5000`; returns a message when it is not one. */
export function parseEndpointBase(text: string): EndpointBase | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not an absolute URL such as http://registry-cache:5000`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.username || url.password) return 'must not contain credentials';
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash) return 'must be scheme://host[:port] with no path, query or fragment';
  const host = url.hostname.toLowerCase();
  if (!isDnsName(host)) return `"${url.hostname}" must be a host name or IPv4 address`;
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  return { scheme, host, port: url.port ? Number(url.port) : DEFAULT_PORT[scheme] };
}

export function formatHostPort(host: string, base: EndpointBase): string {
  return base.port === DEFAULT_PORT[base.scheme] ? host : `${host}:${base.port}`;
}

export function formatBaseUrl(base: EndpointBase): string {
  return `${base.scheme}://${formatHostPort(base.host, base)}`;
}

/** The mirror of one registry at `<name>.<base.host>`, whatever mode was asked for (dockerd needs it: it sends no `ns`). */
export function vhostEndpoint(config: RegcacheConfig, registryName: string, base: EndpointBase): ClientEndpoint {
  const registry = config.registries.find((r) => r.name === registryName);
  if (!registry) throw new Error(`no registry named ${registryName}`);
  const hostPort = formatHostPort(vhostName(config, registry.name, base.host), base);
  return {
    registry: registry.name,
    mirrorOf: registry.mirrorOf,
    upstream: registry.upstream,
    url: `${base.scheme}://${hostPort}`,
    hostPort,
    scheme: base.scheme,
    byHost: true,
  };
}

/** `<name>.<host>`, or `<name-with-dashes>.<host>` with hostStyle dashed: the vhost name nginx routes. */
export function vhostName(config: RegcacheConfig, registryName: string, host: string): string {
  return `${vhostLabel(registryName, config.hostStyle)}.${host}`;
}

/**
 * Every cache with the mirror clients should use for it, in mirror order. In single mode one
 * endpoint serves them all and `?ns=<mirrorOf>` picks the first cache of each registry host, so
 * only that one is listed.
 */
export function clientEndpoints(config: RegcacheConfig, options: ClientOptions): ClientEndpoint[] {
  const registries = mirrorSorted(config.registries);
  if (options.mode === 'vhost') return registries.map((r) => vhostEndpoint(config, r.name, options.base));
  const hostPort = formatHostPort(options.base.host, options.base);
  return firstMirrors(registries).map((registry) => ({
    registry: registry.name,
    mirrorOf: registry.mirrorOf,
    upstream: registry.upstream,
    url: `${options.base.scheme}://${hostPort}`,
    hostPort,
    scheme: options.base.scheme,
    byHost: registry.hosts.includes(options.base.host),
  }));
}

/** The caches of one registry host, in the order clients try them; the first one's upstream is the fallback. */
export interface MirrorGroup {
  mirrorOf: string;
  upstream: string;
  endpoints: ClientEndpoint[];
}

export function mirrorGroups(endpoints: readonly ClientEndpoint[]): MirrorGroup[] {
  const groups: MirrorGroup[] = [];
  for (const endpoint of endpoints) {
    const last = groups[groups.length - 1];
    if (last && last.mirrorOf === endpoint.mirrorOf) last.endpoints.push(endpoint);
    else groups.push({ mirrorOf: endpoint.mirrorOf, upstream: endpoint.upstream, endpoints: [endpoint] });
  }
  return groups;
}

/** What a user should know before using the generated files: routes nginx will not recognise, ignored TLS settings. */
export function endpointWarnings(config: RegcacheConfig, options: ClientOptions): string[] {
  const warnings: string[] = [];
  const { base, mode, tls } = options;
  if (mode === 'vhost') {
    const unrouted = config.registries
      .filter((r) => !r.hosts.includes(vhostName(config, r.name, base.host)))
      .map((r) => vhostName(config, r.name, base.host));
    if (unrouted.length > 0) {
      warnings.push(
        `nginx routes <name>.${config.domain} and aliases only; ${unrouted.join(', ')} will answer 404 (add them as aliases, or use --mode single)`,
      );
    }
  } else {
    const first = new Set(firstMirrors(config.registries).map((r) => r.name));
    const shadowed = mirrorSorted(config.registries).filter((r) => !first.has(r.name));
    for (const r of shadowed) {
      warnings.push(
        `${r.name}: ?ns=${r.mirrorOf} goes to the first cache of ${r.mirrorOf} (lowest mirrorOrder); ${r.name} is reachable in vhost mode only`,
      );
    }
    const owner = config.registries.find((r) => r.hosts.includes(base.host));
    if (owner) {
      warnings.push(
        `${base.host} is a host of ${owner.name}, so nginx routes every request to it by host and ignores ns; use a host that is no vhost`,
      );
    }
  }
  if (base.scheme === 'http' && (tls.caFile !== null || tls.skipVerify)) {
    warnings.push(
      'CA and skip-verify settings apply to https endpoints only; left out for this http endpoint (containerd 1.7 would try https first on it)',
    );
  }
  return warnings;
}
