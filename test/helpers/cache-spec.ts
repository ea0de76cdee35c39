import { hashSpec, type CacheSpec } from '../../src/desired/cache-spec.js';

/** A docker.io cache's spec (anonymous, online), with its hash computed from what was overridden. */
export function cacheSpec(over: Partial<CacheSpec> = {}): CacheSpec {
  const base = {
    name: 'docker.io',
    slug: 'docker-io',
    upstream: 'https://registry-1.docker.io',
    remoteUrl: 'https://registry-1.docker.io',
    credentials: null,
    offline: false,
    ...over,
  };
  return { ...base, specHash: over.specHash ?? hashSpec({ upstream: base.upstream, credentials: base.credentials, offline: base.offline }) };
}
