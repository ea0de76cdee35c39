import { createHash } from 'node:crypto';
import { hashSpec, type CacheSpec } from '../../../desired/cache-spec.js';
import type { CacheState } from '../cache-runtime.js';
import type { ContainerCreateSpec, ContainerSummary } from './docker-api.js';

/** Pure: how one CacheSpec becomes one registry:2 container, and how a found container is judged. */

export const LABEL = {
  managed: 'io.regcache.managed',
  vhost: 'io.regcache.vhost',
  specHash: 'io.regcache.spec-hash',
  /** The CacheSpec hash the container was built from, so an adopted container compares with the plan. */
  cacheSpec: 'io.regcache.cache-spec',
  /** Which regcache owns it: several daemons (or test runs) may share one Docker engine. */
  instance: 'io.regcache.instance',
  port: 'io.regcache.port',
  debugPort: 'io.regcache.debug-port',
} as const;

/** Bumped when the container layout (env, mounts) changes, so existing containers get replaced. */
const LAYOUT_VERSION = 2;
/** Where distribution listens inside its container on a bridge network (the registry:2 defaults). */
export const BRIDGE_PORT = 5000;
export const BRIDGE_DEBUG_PORT = 5001;
const STORAGE = '/var/lib/registry';

export interface DockerRuntimeSettings {
  image: string;
  /** `host` or a bridge network name. */
  network: string;
  /**
   * How nginx reaches a cache on a bridge network: `name` when nginx runs in a container on the same
   * network (Docker's DNS resolves container names), `ip` when it runs on the host.
   */
  addressing: 'name' | 'ip';
  instance: string;
}

export interface HostPorts {
  port: number;
  debugPort: number;
}

export const isHostNetwork = (s: Pick<DockerRuntimeSettings, 'network'>) => s.network === 'host';

export function containerName(slug: string): string {
  return `regcache-${slug}`;
}

export function volumeName(slug: string): string {
  return `regcache-${slug}-data`;
}

/** Stable id of one regcache installation, from its data directory. */
export function instanceId(dataDir: string): string {
  return createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
}

/** Hash of everything that shapes the container: the cache spec, the image, the network, our layout. */
export function containerSpecHash(cacheSpecHash: string, settings: Pick<DockerRuntimeSettings, 'image' | 'network'>): string {
  return hashSpec({ cache: cacheSpecHash, image: settings.image, network: settings.network, layout: LAYOUT_VERSION });
}

export function managedLabelFilter(instance: string): string[] {
  return [`${LABEL.managed}=true`, `${LABEL.instance}=${instance}`];
}

/** The container for one cache. Credentials go in env only, never in labels or the name. */
export function cacheContainerSpec(spec: CacheSpec, settings: DockerRuntimeSettings, ports: HostPorts | null): ContainerCreateSpec {
  const host = isHostNetwork(settings);
  if (host && !ports) throw new Error(`cache ${spec.name}: host networking needs loopback ports`);
  const env: Record<string, string> = {
    REGISTRY_HTTP_ADDR: host ? `127.0.0.1:${ports!.port}` : `:${BRIDGE_PORT}`,
    REGISTRY_HTTP_DEBUG_ADDR: host ? `127.0.0.1:${ports!.debugPort}` : `:${BRIDGE_DEBUG_PORT}`,
    REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true',
    REGISTRY_HTTP_DEBUG_PROMETHEUS_PATH: '/metrics',
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: STORAGE,
    // The proxy's TTL expiry deletes blobs; without this it cannot free space.
    REGISTRY_STORAGE_DELETE_ENABLED: 'true',
    // No blob descriptor cache (registry:2 ships `inmemory`): it would still answer for a blob file that
    // regcache deleted (purge, cache.maxSize), and the registry would then fail to serve it.
    REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: '',
    REGISTRY_LOG_FORMATTER: 'json',
    REGISTRY_LOG_FIELDS_VHOST: spec.name,
  };
  // Offline: a plain registry over the same volume serves what the proxy cached, read-only.
  if (spec.offline) env.REGISTRY_STORAGE_MAINTENANCE_READONLY = '{"enabled": true}';
  if (!spec.offline) {
    env.REGISTRY_PROXY_REMOTEURL = spec.remoteUrl;
    if (spec.credentials) {
      env.REGISTRY_PROXY_USERNAME = spec.credentials.username;
      env.REGISTRY_PROXY_PASSWORD = spec.credentials.password;
    }
  }
  const labels: Record<string, string> = {
    [LABEL.managed]: 'true',
    [LABEL.vhost]: spec.name,
    [LABEL.specHash]: containerSpecHash(spec.specHash, settings),
    [LABEL.cacheSpec]: spec.specHash,
    [LABEL.instance]: settings.instance,
  };
  if (host) {
    labels[LABEL.port] = String(ports!.port);
    labels[LABEL.debugPort] = String(ports!.debugPort);
  }
  return {
    name: containerName(spec.slug),
    image: settings.image,
    env,
    labels,
    network: settings.network,
    networkAliases: [],
    mounts: [{ volume: volumeName(spec.slug), target: STORAGE }],
    restartPolicy: 'unless-stopped',
  };
}

export function volumeLabels(spec: CacheSpec, instance: string): Record<string, string> {
  return { [LABEL.managed]: 'true', [LABEL.vhost]: spec.name, [LABEL.instance]: instance };
}

export type ContainerDecision = 'create' | 'keep' | 'start' | 'replace' | 'foreign';

/** What to do with the container found under a cache's name. */
export function decideContainer(found: ContainerSummary | null, wantHash: string, instance: string): ContainerDecision {
  if (!found) return 'create';
  if (found.labels[LABEL.managed] !== 'true' || found.labels[LABEL.instance] !== instance) return 'foreign';
  if (found.labels[LABEL.specHash] !== wantHash) return 'replace';
  if (found.status === 'running' || found.status === 'restarting') return 'keep';
  return 'start';
}

/**
 * The CacheSpec hash the planner compares with. A container built with another image or network
 * reports a hash no spec has, so the plan replaces it.
 */
export function observedCacheSpecHash(labels: Record<string, string>, settings: Pick<DockerRuntimeSettings, 'image' | 'network'>): string {
  const cacheSpec = labels[LABEL.cacheSpec] ?? '';
  const hash = labels[LABEL.specHash] ?? '';
  return cacheSpec && hash === containerSpecHash(cacheSpec, settings) ? cacheSpec : `outdated:${hash}`;
}

export interface ContainerAddresses {
  address: string;
  debugAddress: string;
}

/** Where nginx (and the health probes) reach a cache container. */
export function containerAddresses(c: ContainerSummary, settings: DockerRuntimeSettings): ContainerAddresses {
  if (isHostNetwork(settings)) {
    return { address: `127.0.0.1:${c.labels[LABEL.port]}`, debugAddress: `127.0.0.1:${c.labels[LABEL.debugPort]}` };
  }
  const ip = c.networks[settings.network];
  const host = settings.addressing === 'ip' && ip ? ip : c.name;
  return { address: `${host}:${BRIDGE_PORT}`, debugAddress: `${host}:${BRIDGE_DEBUG_PORT}` };
}

export function containerState(status: ContainerSummary['status'], stoppedByUs: boolean): CacheState {
  switch (status) {
    case 'running':
      return 'running';
    case 'created':
      return 'starting';
    case 'paused':
      return 'stopped';
    default:
      return stoppedByUs ? 'stopped' : 'crashed';
  }
}
