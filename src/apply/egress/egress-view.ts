import net from 'node:net';
import path from 'node:path';
import type { RegcacheConfig } from '../../config/model.js';
import { registrySlug } from '../../config/parse.js';
import type { EgressPlan, EgressRoute } from '../../desired/egress-routes.js';
import { ERROR_HOLD, sizeToken, type NginxCacheZone, type NginxPaths } from '../nginx/nginx-view.js';
import {
  CLASS_PATTERNS,
  LOCATION_HOST,
  LOCATION_WELL_FORMED,
  originClass,
  ownListenersPattern,
  redirectAllowPattern,
  type RedirectClass,
} from '../nginx/redirect-policy.js';

/**
 * What templates/egress-nginx.conf.ejs reads: the caches' egress, a second nginx beside the router.
 * It is its own process because every location that proxies to a variable https URL loads the CA
 * bundle (~20 ms each on nginx 1.22); in the router that would slow every reload. Here one location
 * serves every cache, and the config changes only when registries or upstreams do.
 */
export interface EgressNginxView {
  generation: number;
  user: string | null;
  workerProcesses: number | 'auto';
  paths: NginxPaths;
  /** Loopback listener that answers the generation probe. */
  controlListen: string;
  /** `resolver` servers; null when every upstream is an IP address and no nameserver is known. */
  resolver: { servers: string[]; ipv6: boolean } | null;
  caFile: string;
  /** Changes when a configured bundle's contents change, so nginx reloads and re-reads it. */
  caMaterial: string | null;
  cacheZone: NginxCacheZone;
  cacheLockTimeout: string;
  /** No-progress bound on every upstream read and write (cache.stallTimeout), e.g. "60s"; connects get at most 15 s of it. */
  stallTimeout: string;
  connectTimeout: string;
  /** How long a failed blob fetch is remembered so every waiter on its lock gets the error at once. */
  errorHold: string;
  /** Where the egress nginx's workers mark blob fetches that just failed (see egress-maps.conf). */
  failedDir: string;
  /**
   * njs that checks those marks again after a request waited on a digest's lock (nginx/egress.js),
   * so every waiter of a failed fetch is answered at once; null without the njs module (waiters then
   * retry the upstream in turn, each bounded by stallTimeout). `unbindable`: an address in use.
   */
  egressJs: { module: string; script: string; unbindable: string } | null;
  /** What a credentialed upstream's entries are keyed by besides the digest: the Authorization's hash (njs), else itself. */
  authKey: string;
  /** Patterns a redirect's Location is checked against before nginx follows it (redirect-policy.ts). */
  redirect: {
    wellFormed: string;
    host: string;
    classes: ReadonlyArray<{ cls: RedirectClass; pattern: string; caseless?: boolean }>;
    allow: string | null;
    /** regcache's own loopback listeners (admin API, router, egress): never a redirect target. */
    own: string;
  };
  /** One listener per cache; the port says which upstream. An upstream may redirect to hosts of its own class. */
  servers: EgressServerView[];
  /** Seconds a failed mirror is skipped (max_fails=1 fail_timeout=…). */
  mirrorBackoff: string;
  /** Bound on one fetch's failover: the time during which nginx still passes it to the next mirror. */
  mirrorFailoverTimeout: string;
  /** The longest mirror list: at most this many tries per fetch. */
  mirrorTries: number;
}

export interface EgressServerView {
  name: string;
  listen: string;
  port: number;
  /** The upstream, or `http://<group>` (the nginx upstream group of the hop listeners) for a mirror list. */
  origin: string;
  originClass: RedirectClass;
  /** The cache pulls with credentials: its blobs are private, so egress cache entries are keyed by Authorization too. */
  private: boolean;
  /** The nginx upstream group of a mirror list; null for a single upstream. */
  group: string | null;
  /** A mirror list's hop listeners, in order (the first is primary, the others backups). */
  /** sendsAuth: the cache's Authorization goes to this mirror (it shares the first mirror's host). */
  mirrors: Array<{ origin: string; listen: string; port: number; sendsAuth: boolean }>;
}

export function egressNginxView(input: {
  config: RegcacheConfig;
  plan: EgressPlan;
  paths: NginxPaths;
  generation: number;
  controlPort: number;
  user?: string | null;
  /** The njs module and nginx/egress.js, when nginx has the module. */
  egressJs?: { module: string; script: string } | null;
  /** regcache's DNS filter (`127.0.0.1:<port>`): nginx's resolver, forwarding to the plan's nameservers. */
  dnsFilter?: string | null;
}): EgressNginxView | null {
  const ownPorts = [
    input.config.admin.listen.port,
    input.config.listen.port,
    ...(input.config.tls ? [input.config.tls.listen.port] : []),
    input.controlPort,
  ];
  const { plan, config, paths } = input;
  if (plan.routes.size === 0 || !plan.caFile) return null;
  return {
    generation: input.generation,
    user: input.user !== undefined ? input.user : config.nginx.user,
    workerProcesses: config.nginx.workerProcesses,
    paths,
    controlListen: `127.0.0.1:${input.controlPort}`,
    resolver: filteredResolver(resolverDirective(plan.resolvers), input.dnsFilter ?? null),
    caFile: plan.caFile,
    caMaterial: plan.caMaterial,
    // Entries live only until distribution's second fetch and concurrent misses have read them.
    cacheZone: {
      zone: 'regcache_egress',
      path: path.join(paths.cache, 'blobs'),
      keysZoneSize: '4m',
      maxSize: sizeToken(config.cache.maxSizeBytes),
      inactive: '10m',
    },
    cacheLockTimeout: `${config.cache.lockTimeoutSeconds}s`,
    stallTimeout: `${config.cache.stallTimeoutSeconds}s`,
    connectTimeout: `${Math.min(15, config.cache.stallTimeoutSeconds)}s`,
    errorHold: ERROR_HOLD,
    failedDir: egressFailedDir(paths),
    egressJs: input.egressJs ? { ...input.egressJs, unbindable: `127.0.0.1:${input.controlPort}` } : null,
    authKey: input.egressJs ? '$regcache_egress_auth_key' : '$http_authorization',
    redirect: {
      wellFormed: LOCATION_WELL_FORMED,
      host: LOCATION_HOST,
      classes: CLASS_PATTERNS,
      allow: redirectAllowPattern(config.egress.redirectAllow),
      own: ownListenersPattern([
        ...ownPorts,
        ...[...plan.routes.values()].flatMap((r) => [r.listen, ...r.mirrors.map((m) => m.listen)]).map((l) => Number(l.split(':').pop())),
      ]),
    },
    servers: [...plan.routes.values()].map((r) => serverView(r, config.registries.find((g) => g.name === r.name)?.credentials != null)),
    mirrorBackoff: `${config.egress.mirrorBackoffSeconds}s`,
    // A first mirror that stays silent for stallTimeout still leaves time to try the next one.
    mirrorFailoverTimeout: `${2 * config.cache.stallTimeoutSeconds + 15}s`,
    mirrorTries: Math.max(1, ...[...plan.routes.values()].map((r) => r.mirrors.length)),
  };
}

function serverView(r: EgressRoute, isPrivate: boolean): EgressServerView {
  const port = Number(r.listen.split(':').pop());
  if (r.mirrors.length === 0)
    return {
      name: r.name,
      listen: r.listen,
      port,
      origin: r.origin,
      originClass: originClass(r.origin),
      private: isPrivate,
      group: null,
      mirrors: [],
    };
  // A redirect may lead to hosts of the mirrors' own class only when they all share it; else public hosts only.
  const classes = new Set(r.mirrors.map((m) => originClass(m.origin)));
  const group = mirrorGroupName(r.name);
  return {
    name: r.name,
    listen: r.listen,
    port,
    origin: `http://${group}`,
    originClass: classes.size === 1 ? [...classes][0]! : 'never',
    private: isPrivate,
    group,
    mirrors: r.mirrors.map((m) => ({
      origin: m.origin,
      listen: m.listen,
      port: Number(m.listen.split(':').pop()),
      sendsAuth: new URL(m.origin).hostname === new URL(r.mirrors[0]!.origin).hostname,
    })),
  };
}

/** The nginx upstream group of a registry's mirror hops (a name, never resolved by DNS). */
export function mirrorGroupName(name: string): string {
  return `regcache_mirrors_${registrySlug(name).replace(/-/g, '_')}`;
}

/** Failed-fetch markers of the egress nginx (cleaned by the daemon, see disk-space-monitor). */
export function egressFailedDir(paths: NginxPaths): string {
  return path.join(paths.temp, 'failed');
}

/** nginx `resolver` arguments: IPv6 servers in brackets; AAAA lookups only when a server is IPv6 (else ipv6=off). */
export function resolverDirective(resolvers: readonly string[]): { servers: string[]; ipv6: boolean } | null {
  if (resolvers.length === 0) return null;
  return { servers: resolvers.map((r) => (net.isIPv6(r) ? `[${r}]` : r)), ipv6: resolvers.some((r) => net.isIPv6(r)) };
}

/** Through the DNS filter when there is one (it asks the nameservers); AAAA lookups as the nameservers allow. */
function filteredResolver(direct: { servers: string[]; ipv6: boolean } | null, filter: string | null): { servers: string[]; ipv6: boolean } | null {
  if (!direct || !filter) return direct;
  return { servers: [filter], ipv6: direct.ipv6 };
}
