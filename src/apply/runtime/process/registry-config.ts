import { stringify } from 'yaml';
import type { CacheSpec } from '../../../desired/cache-spec.js';

export interface RegistryConfigInput {
  spec: CacheSpec;
  /** host:port, or the path of a unix socket (net: unix) so that only nginx can reach the cache. */
  addr: string;
  net?: 'tcp' | 'unix';
  debugAddr: string;
  storageDir: string;
}

/**
 * The distribution (registry:2) config for one pull-through cache, as a data structure.
 * Serialised with a YAML library, never by string templating, because it holds the upstream password.
 */
export function registryConfig({ spec, addr, net = 'tcp', debugAddr, storageDir }: RegistryConfigInput): Record<string, unknown> {
  return {
    version: 0.1,
    log: { level: 'info', formatter: 'json', accesslog: { disabled: false }, fields: { service: 'regcache-cache', vhost: spec.name } },
    storage: {
      filesystem: { rootdirectory: storageDir },
      // The proxy's TTL expiry deletes blobs; without this it cannot free space.
      delete: { enabled: true },
      // No blob descriptor cache: regcache deletes blob files (purge, LRU eviction) under the running
      // registry, and a cached descriptor would make it serve a vanished file instead of refetching.
      maintenance: {
        uploadpurging: { enabled: true, age: '168h', interval: '24h', dryrun: false },
        // Offline it is a plain registry: read-only, so nothing local can push content that nginx
        // would then serve under the upstream's name. (In proxy mode distribution refuses pushes itself.)
        ...(spec.offline ? { readonly: { enabled: true } } : {}),
      },
    },
    http: {
      ...(net === 'unix' ? { net: 'unix' } : {}),
      addr,
      headers: { 'X-Content-Type-Options': ['nosniff'] },
      debug: { addr: debugAddr, prometheus: { enabled: true, path: '/metrics' } },
    },
    health: { storagedriver: { enabled: true, interval: '10s', threshold: 3 } },
    // Offline: a plain registry over the same storage serves what the proxy cached (tags included).
    ...(spec.offline
      ? {}
      : {
          proxy: {
            remoteurl: spec.remoteUrl,
            ...(spec.credentials ? { username: spec.credentials.username, password: spec.credentials.password } : {}),
          },
        }),
  };
}

export function registryConfigYaml(input: RegistryConfigInput): string {
  return stringify(registryConfig(input));
}
