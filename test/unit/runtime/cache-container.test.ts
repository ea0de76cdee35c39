import { describe, expect, it } from 'vitest';
import {
  cacheContainerSpec,
  containerAddresses,
  containerSpecHash,
  decideContainer,
  instanceId,
  LABEL,
  observedCacheSpecHash,
  type DockerRuntimeSettings,
} from '../../../src/apply/runtime/docker/cache-container.js';
import type { ContainerSummary } from '../../../src/apply/runtime/docker/docker-api.js';
import { dockerEndpoint } from '../../../src/apply/runtime/docker/docker-api.js';
import { isConnectionError } from '../../../src/apply/runtime/docker/docker-runtime.js';
import { cacheSpec } from '../../helpers/cache-spec.js';

const spec = cacheSpec;
const bridge: DockerRuntimeSettings = { image: 'registry:2', network: 'registry-cache', addressing: 'name', instance: 'abc' };
const host: DockerRuntimeSettings = { ...bridge, network: 'host', addressing: 'ip' };
const ports = { port: 40001, debugPort: 40002 };

const summary = (over: Partial<ContainerSummary> & { labels?: Record<string, string> } = {}): ContainerSummary => ({
  id: 'c1',
  name: 'regcache-docker-io',
  image: 'registry:2',
  status: 'running',
  networks: { 'registry-cache': '172.20.0.5' },
  labels: {},
  ...over,
});

describe('cacheContainerSpec', () => {
  it('builds a labelled registry:2 container with a named volume and unless-stopped', () => {
    const c = cacheContainerSpec(spec(), bridge, null);
    expect(c.name).toBe('regcache-docker-io');
    expect(c.image).toBe('registry:2');
    expect(c.restartPolicy).toBe('unless-stopped');
    expect(c.mounts).toEqual([{ volume: 'regcache-docker-io-data', target: '/var/lib/registry' }]);
    expect(c.labels).toMatchObject({
      [LABEL.managed]: 'true',
      [LABEL.vhost]: 'docker.io',
      [LABEL.specHash]: containerSpecHash(spec().specHash, bridge),
      [LABEL.instance]: 'abc',
    });
    expect(c.env).toMatchObject({
      REGISTRY_HTTP_ADDR: ':5000',
      REGISTRY_HTTP_DEBUG_ADDR: ':5001',
      REGISTRY_PROXY_REMOTEURL: 'https://registry-1.docker.io',
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      // regcache deletes blob files (purge, maxSize): no descriptor cache may still claim them.
      REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: '',
    });
    expect(c.env).not.toHaveProperty('REGISTRY_PROXY_USERNAME');
  });

  it('passes credentials as env only, never in labels', () => {
    const c = cacheContainerSpec(spec({ credentials: { username: 'bob', password: 'hunter2-secret' } }), bridge, null);
    expect(c.env.REGISTRY_PROXY_USERNAME).toBe('bob');
    expect(c.env.REGISTRY_PROXY_PASSWORD).toBe('hunter2-secret');
    expect(JSON.stringify(c.labels)).not.toContain('hunter2');
    expect(c.name).not.toContain('hunter2');
  });

  it('drops the proxy settings when offline', () => {
    const c = cacheContainerSpec(spec({ offline: true, credentials: { username: 'bob', password: 'pw' } }), bridge, null);
    expect(Object.keys(c.env).filter((k) => k.startsWith('REGISTRY_PROXY_'))).toEqual([]);
  });

  it('listens on its own loopback ports with host networking and records them in labels', () => {
    const c = cacheContainerSpec(spec(), host, ports);
    expect(c.network).toBe('host');
    expect(c.env.REGISTRY_HTTP_ADDR).toBe('127.0.0.1:40001');
    expect(c.env.REGISTRY_HTTP_DEBUG_ADDR).toBe('127.0.0.1:40002');
    expect(c.labels[LABEL.port]).toBe('40001');
    expect(() => cacheContainerSpec(spec(), host, null)).toThrow(/loopback ports/);
  });
});

describe('spec hash', () => {
  it('changes with the cache spec, the image and the network', () => {
    const h = containerSpecHash('s1', bridge);
    expect(containerSpecHash('s1', { ...bridge })).toBe(h);
    expect(containerSpecHash('s2', bridge)).not.toBe(h);
    expect(containerSpecHash('s1', { ...bridge, image: 'registry:2.8.3' })).not.toBe(h);
    expect(containerSpecHash('s1', { ...bridge, network: 'host' })).not.toBe(h);
  });

  it('reports the cache spec hash of a container built with the current settings, else an outdated marker', () => {
    const labels = cacheContainerSpec(spec(), bridge, null).labels;
    expect(observedCacheSpecHash(labels, bridge)).toBe(spec().specHash);
    expect(observedCacheSpecHash(labels, { ...bridge, image: 'registry:3' })).toMatch(/^outdated:/);
    expect(observedCacheSpecHash({}, bridge)).toMatch(/^outdated:/);
  });
});

describe('decideContainer', () => {
  const labels = cacheContainerSpec(spec(), bridge, null).labels;
  const want = labels[LABEL.specHash]!;
  it('creates when absent, keeps a running match, starts a stopped match, replaces a changed one', () => {
    expect(decideContainer(null, want, 'abc')).toBe('create');
    expect(decideContainer(summary({ labels }), want, 'abc')).toBe('keep');
    expect(decideContainer(summary({ labels, status: 'restarting' }), want, 'abc')).toBe('keep');
    expect(decideContainer(summary({ labels, status: 'exited' }), want, 'abc')).toBe('start');
    expect(decideContainer(summary({ labels }), 'other', 'abc')).toBe('replace');
  });
  it('never touches a container without our managed and instance labels', () => {
    expect(decideContainer(summary({ labels: {} }), want, 'abc')).toBe('foreign');
    expect(decideContainer(summary({ labels: { ...labels, [LABEL.managed]: 'false' } }), want, 'abc')).toBe('foreign');
    expect(decideContainer(summary({ labels }), want, 'another-regcache')).toBe('foreign');
  });
});

describe('containerAddresses', () => {
  it('fits where nginx runs', () => {
    const labels = cacheContainerSpec(spec(), host, ports).labels;
    expect(containerAddresses(summary({ labels, networks: { host: '' } }), host)).toEqual({
      address: '127.0.0.1:40001',
      debugAddress: '127.0.0.1:40002',
    });
    expect(containerAddresses(summary(), bridge).address).toBe('regcache-docker-io:5000');
    expect(containerAddresses(summary(), { ...bridge, addressing: 'ip' }).address).toBe('172.20.0.5:5000');
  });
});

describe('dockerEndpoint', () => {
  it('prefers docker.socket, then DOCKER_HOST, then the default socket', () => {
    expect(dockerEndpoint('/run/user/1000/docker.sock', { DOCKER_HOST: 'tcp://127.0.0.1:2375' })).toEqual({
      kind: 'socket',
      path: '/run/user/1000/docker.sock',
    });
    expect(dockerEndpoint(null, { DOCKER_HOST: 'tcp://127.0.0.1:2376' })).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 2376 });
    expect(dockerEndpoint(null, { DOCKER_HOST: 'unix:///tmp/d.sock' })).toEqual({ kind: 'socket', path: '/tmp/d.sock' });
    expect(dockerEndpoint(null, {})).toEqual({ kind: 'socket', path: '/var/run/docker.sock' });
  });
});

describe('isConnectionError', () => {
  it('tells an unreachable engine from an engine that answered with an error', () => {
    expect(isConnectionError(Object.assign(new Error('connect ENOENT /x.sock'), { code: 'ENOENT' }))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('no such container'), { statusCode: 404 }))).toBe(false);
  });
});

describe('instanceId', () => {
  it('is stable per data directory', () => {
    expect(instanceId('/data')).toBe(instanceId('/data'));
    expect(instanceId('/data')).not.toBe(instanceId('/srv/data'));
  });
});
