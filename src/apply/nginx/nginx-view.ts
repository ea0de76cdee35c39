import path from 'node:path';
import type { RegcacheConfig } from '../../config/model.js';
import { firstMirrors } from '../../config/mirror-order.js';
import { registrySlug } from '../../config/parse.js';
import { effectiveCache } from '../../config/sections/cache.js';
import type { ClusterConfig } from '../../config/sections/cluster.js';
import type { Membership } from '../../cluster/membership.js';
import { clusterView, type NginxClusterView } from './cluster-view.js';
import { FIRST_ACCEPT_LINE_ONLY, type AcceptSupport } from './nginx-features.js';
import { repositoryRuleEntries, type RepositoryRuleEntry } from './repository-rules.js';
import { httpListen, securityView, type SecurityView } from './security-view.js';

/** Where the rendered config points nginx at: pid, logs, temp, cache. Chosen by the nginx driver. */
export interface NginxPaths {
  pid: string;
  errorLog: string;
  accessLog: string;
  temp: string;
  /** Parent of one proxy_cache_path directory per registry. */
  cache: string;
}

export interface NginxRoute {
  name: string;
  upstreamId: string;
  address: string;
  /** keys_zone of this registry's nginx cache. */
  cacheZone: string;
  /** Named location that answers this registry's tag manifests (microcached or not). */
  tagLocation: string;
  /** Named location that answers this registry's referrers listings (cached like tags). */
  referrersLocation: string;
  /** `127.0.0.1:PORT` of this cache's egress listener, which asks the upstream for referrers; "" without egress. */
  egress: string;
  /**
   * The cache's storage root (distribution's filesystem rootdirectory) when nginx can read it: blob
   * hits are served from its verified blob files. null: every blob request goes to the cache.
   */
  blobRoot: string | null;
}

/** One `proxy_cache_path`: a registry's on-disk cache, LRU-bounded by nginx. */
export interface NginxCacheZone {
  zone: string;
  path: string;
  /** nginx size tokens, e.g. "10240m". */
  keysZoneSize: string;
  maxSize: string;
  inactive: string;
}

/** A named location for tag manifests; registries with the same tagTTL share one. */
export interface NginxTagLocation {
  name: string;
  /** "30s"; null: tags pass through uncached (tagTTL 0). */
  validFor: string | null;
  /** The referrers location with the same lifetime. */
  referrers: string;
}

/** Everything the nginx template reads, already validated and flattened: the template holds layout only. */
export interface NginxView {
  generation: number;
  user: string | null;
  workerProcesses: number | 'auto';
  listen: string;
  paths: NginxPaths;
  routes: NginxRoute[];
  hosts: Array<{ host: string; upstreamId: string }>;
  /** containerd's `?ns=<registry host>` → the first cache (in mirror order) of that registry host. */
  nsRoutes: Array<{ ns: string; upstreamId: string }>;
  cacheZones: NginxCacheZone[];
  tagLocations: NginxTagLocation[];
  /** proxy_cache_lock_timeout and proxy_cache_lock_age for digests, e.g. "3600s". */
  cacheLockTimeout: string;
  /** Which variable holds the whole Accept header for the tag microcache (njs on nginx < 1.23). */
  accept: AcceptSupport;
  /** Read/send timeout towards a cache: cache.stallTimeout plus a margin, so the egress gives up first. */
  cacheReadTimeout: string;
  /**
   * The same for a blob miss, which may wait on the egress lock for another request's whole download:
   * cache.lockTimeout (how long the egress lets it wait) plus the above.
   */
  blobMissReadTimeout: string;
  /** Set by an include that overrides cacheReadTimeout. */
  readTimeout?: string;
  /** How long a failed digest fetch is answered from memory, so every waiter on its lock gets the error at once. */
  errorHold: string;
  /** Routes (upstream ids) whose upstream is unreachable: what they do not hold is answered 503 UNAVAILABLE. */
  upstreamDown: string[];
  /** Free space under dataDir is below cache.minFreeSpace: digests not yet cached are refused (507) via this socket. */
  diskFull: { socket: string; message: string } | null;
  /**
   * Directory where the egress nginx writes down a manifest by digest its upstream answered 404, so the
   * router answers 404 for the cache's 500 (nginx/registry-server.conf); "" without an egress.
   */
  egressMarkers: string;
  /** TLS servers and access rules (templates/nginx/security-*.ejs read it as view.security). */
  security: SecurityView;
  /**
   * Client addresses (CIDRs) that may read the generation probe on the http listener; null: any
   * (nginx in a container on a Docker network, where the daemon's address is not known in advance).
   */
  probeClients: string[] | null;
  /** registries.<name>.repositories as map entries, in match order (templates/nginx/repository-rules-*.ejs). */
  repositoryRules: RepositoryRuleEntry[];
  /** Peers, ring and peer listener (templates/nginx/cluster-*.ejs); null: a single node. */
  cluster: NginxClusterView | null;
}

/** nginx takes k/m/g suffixes only; round down to whole KiB. */
export function sizeToken(bytes: number): string {
  return bytes % MIB === 0 ? `${bytes / MIB}m` : `${Math.floor(bytes / 1024)}k`;
}

export function upstreamId(registryName: string): string {
  return `cache_${registryName.replace(/[^a-z0-9]+/g, '_')}`;
}

const MIB = 1024 ** 2;

/** How long a failed fetch of one digest is remembered (router and egress): longer than nginx's 500 ms lock poll. */
export const ERROR_HOLD = '2s';
/** The router waits this much longer than the egress for a stalled fetch, so the egress's error is what clients see. */
const ROUTER_STALL_MARGIN_SECONDS = 10;
const GIB = 1024 ** 3;

/** nginx keeps ~8000 keys per MiB of keys_zone; one MiB per GiB of disk is ample for registry content. */
export function keysZoneMib(maxSizeBytes: number): number {
  return Math.min(256, Math.max(1, Math.ceil(maxSizeBytes / GIB)));
}

function tagLocationName(ttlSeconds: number): string {
  return ttlSeconds > 0 ? `@regcache_tags_${ttlSeconds}s` : '@regcache_tags_uncached';
}

function referrersLocationName(ttlSeconds: number): string {
  return ttlSeconds > 0 ? `@regcache_referrers_${ttlSeconds}s` : '@regcache_referrers_uncached';
}

/**
 * Builds the view from config and the live backend addresses. Registries without a backend
 * address are left out: nginx must never route to a cache that does not exist.
 */
export function nginxView(input: {
  config: RegcacheConfig;
  backends: ReadonlyMap<string, string>;
  paths: NginxPaths;
  generation: number;
  /** The `user` directive as the nginx driver resolved it; defaults to nginx.user from the config. */
  user?: string | null;
  /** What the nginx binary offers for Accept (NginxDriver.acceptSupport); the first line only when absent. */
  accept?: AcceptSupport;
  /** Egress listener per cache (`127.0.0.1:PORT`), where referrers are asked of the upstream. */
  egress?: ReadonlyMap<string, string>;
  /** Each cache's storage root nginx may serve blob files from (see NginxRoute.blobRoot); none when absent. */
  blobRoot?: (name: string) => string | null;
  /** Registries whose upstream is known to be unreachable. */
  upstreamDown?: ReadonlySet<string>;
  /** Why cold pulls are refused (free space below cache.minFreeSpace); null or absent: they are not. */
  diskFull?: string | null;
  /** NginxView.egressMarkers; absent: none. */
  egressMarkers?: string | null;
  /** The cluster section and its current membership; null or absent: a single node. */
  cluster?: { config: ClusterConfig; membership: Membership } | null;
}): NginxView {
  const { config } = input;
  const routed = config.registries
    .filter((r) => input.backends.has(r.name))
    .map((r) => ({ registry: r, cache: effectiveCache(config.cache, r.cache) }));
  const routes = routed.map(({ registry, cache }) => ({
    name: registry.name,
    upstreamId: upstreamId(registry.name),
    address: input.backends.get(registry.name)!,
    cacheZone: `regcache_${registrySlug(registry.name).replace(/-/g, '_')}`,
    tagLocation: tagLocationName(cache.tagTtlSeconds),
    referrersLocation: referrersLocationName(cache.tagTtlSeconds),
    egress: input.egress?.get(registry.name) ?? '',
    blobRoot: input.blobRoot?.(registry.name) ?? null,
  }));
  const nsRoutes = firstMirrors(routed.map(({ registry }) => registry)).map((r) => ({ ns: r.mirrorOf, upstreamId: upstreamId(r.name) }));
  const cacheZones = routed.map(({ registry, cache }, i) => ({
    zone: routes[i]!.cacheZone,
    path: path.join(input.paths.cache, registrySlug(registry.name)),
    keysZoneSize: `${keysZoneMib(cache.maxSizeBytes)}m`,
    maxSize: sizeToken(cache.maxSizeBytes),
    inactive: `${cache.inactiveSeconds}s`,
  }));
  const ttls = [...new Set(routed.map(({ cache }) => cache.tagTtlSeconds))].sort((a, b) => a - b);
  const tagLocations = ttls.map((ttl) => ({
    name: tagLocationName(ttl),
    validFor: ttl > 0 ? `${ttl}s` : null,
    referrers: referrersLocationName(ttl),
  }));
  const hosts = routed.flatMap(({ registry }) => registry.hosts.map((host) => ({ host, upstreamId: upstreamId(registry.name) })));
  return {
    generation: input.generation,
    user: input.user !== undefined ? input.user : config.nginx.user,
    workerProcesses: config.nginx.workerProcesses,
    listen: httpListen(config),
    paths: input.paths,
    routes,
    hosts,
    nsRoutes,
    cacheZones,
    tagLocations,
    cacheLockTimeout: `${config.cache.lockTimeoutSeconds}s`,
    accept: input.accept ?? FIRST_ACCEPT_LINE_ONLY,
    cacheReadTimeout: `${config.cache.stallTimeoutSeconds + ROUTER_STALL_MARGIN_SECONDS}s`,
    blobMissReadTimeout: `${config.cache.lockTimeoutSeconds + config.cache.stallTimeoutSeconds + ROUTER_STALL_MARGIN_SECONDS}s`,
    errorHold: ERROR_HOLD,
    upstreamDown: routes.filter((r) => input.upstreamDown?.has(r.name)).map((r) => r.upstreamId),
    diskFull: input.diskFull ? { socket: path.join(input.paths.temp, 'disk-full.sock'), message: jsonString(input.diskFull) } : null,
    egressMarkers: input.egressMarkers ?? '',
    security: securityView(config, new Set(routes.map((r) => r.name)), upstreamId),
    probeClients: probeClients(config),
    repositoryRules: routed.flatMap(({ registry }) => repositoryRuleEntries(upstreamId(registry.name), registry.repositories)),
    cluster: input.cluster ? clusterView(input.cluster.config, input.cluster.membership) : null,
  };
}

/**
 * The daemon probes the http listener from loopback, or from the listen address itself when nginx
 * listens on one address only; nobody else needs the generation.
 */
function probeClients(config: RegcacheConfig): string[] | null {
  if (config.nginx.container && config.docker.network !== 'host') return null;
  // A connection to any 127.x address leaves from 127.0.0.1; to the machine's own address, from that address.
  const clients = ['127.0.0.1', '::1'];
  const host = config.listen.host;
  if (!config.tls?.httpDisabled && host !== '0.0.0.0' && host !== '::' && !clients.includes(host)) clients.push(host);
  return clients;
}

/** Text for inside a JSON string inside an nginx single-quoted string: no quotes, backslashes or control characters. */
function jsonString(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it removes
  return text.replace(/["'\\\x00-\x1f$;{}]/g, ' ');
}
