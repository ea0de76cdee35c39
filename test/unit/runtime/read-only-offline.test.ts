// Offline caches are read-only (process config and container env); the process runtime's cache
// listens on a unix socket whose path stays within the kernel's limit.
import { describe, expect, it } from 'vitest';
import { cacheContainerSpec, type DockerRuntimeSettings } from '../../../src/apply/runtime/docker/cache-container.js';
import { socketPath } from '../../../src/apply/runtime/process/process-runtime.js';
import { registryConfig } from '../../../src/apply/runtime/process/registry-config.js';
import type { CacheSpec } from '../../../src/desired/cache-spec.js';

const spec = (offline: boolean): CacheSpec => ({
  name: 'docker.io',
  slug: 'docker-io',
  upstream: 'https://registry-1.docker.io',
  remoteUrl: 'http://127.0.0.1:40100',
  credentials: null,
  offline,
  specHash: offline ? 'off' : 'on',
});
const bridge: DockerRuntimeSettings = { image: 'registry:2', network: 'registry-cache', addressing: 'name', instance: 'abc' };

describe('offline caches are read-only', () => {
  it('process runtime: storage.maintenance.readonly when offline, a proxy otherwise', () => {
    const offline = registryConfig({
      spec: spec(true),
      addr: '/d/sockets/docker-io.sock',
      net: 'unix',
      debugAddr: '127.0.0.1:1',
      storageDir: '/d/caches/docker-io',
    }) as any;
    expect(offline.storage.maintenance.readonly).toEqual({ enabled: true });
    expect(offline.proxy).toBeUndefined();
    expect(offline.http).toMatchObject({ net: 'unix', addr: '/d/sockets/docker-io.sock' });
    const online = registryConfig({ spec: spec(false), addr: '127.0.0.1:2', debugAddr: '127.0.0.1:1', storageDir: '/d' }) as any;
    expect(online.storage.maintenance.readonly).toBeUndefined();
    expect(online.proxy.remoteurl).toBe('http://127.0.0.1:40100');
    expect(online.http.net).toBeUndefined();
  });

  it('Docker runtime: REGISTRY_STORAGE_MAINTENANCE_READONLY when offline only', () => {
    expect(cacheContainerSpec(spec(true), bridge, null).env.REGISTRY_STORAGE_MAINTENANCE_READONLY).toBe('{"enabled": true}');
    expect(cacheContainerSpec(spec(false), bridge, null).env.REGISTRY_STORAGE_MAINTENANCE_READONLY).toBeUndefined();
  });
});

describe('cache socket path', () => {
  it('dataDir/sockets/<slug>.sock, a hash when too long, null when nothing fits', () => {
    expect(socketPath('/var/lib/regcache', 'docker-io')).toBe('/var/lib/regcache/sockets/docker-io.sock');
    const long = socketPath('/var/lib/regcache', 'a'.repeat(200));
    expect(long).toMatch(/^\/var\/lib\/regcache\/sockets\/[0-9a-f]{16}\.sock$/);
    expect(socketPath('/' + 'd'.repeat(100), 'docker-io')).toBeNull();
  });
});
