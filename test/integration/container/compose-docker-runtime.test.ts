// The variant compose/docker-runtime.yml, run by Debian's docker-compose: regcache (as root, for the
// Docker socket) creates a registry:2 cache container per registry, nginx runs in a container of its own
// from the same image, and a real client pulls through it. A second compose file adds the test's
// upstream registry as a service on the same network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../helpers/binaries.js';
import { inspectContainer } from '../../helpers/docker-daemon.js';
import { docker, ensureRegistryImage } from '../../helpers/registry-image.js';
import { ensureRegcacheImage } from './images.js';
import { composeWithUpstream, createContainerFixture, REGISTRY, type ContainerFixture } from './fixture.js';

const CACHE_CONTAINER = `regcache-${REGISTRY.replace(/[^a-z0-9]+/g, '-')}`;

describe('docker-compose with compose/docker-runtime.yml (caches as containers, nginx in its own)', () => {
  let fx: ContainerFixture;
  let project: string;
  let compose: (args: string[]) => Promise<string>;

  const removeCache = async () => {
    await docker(['rm', '-f', CACHE_CONTAINER]).catch(() => undefined);
    await docker(['volume', 'rm', '-f', `${CACHE_CONTAINER}-data`]).catch(() => undefined);
  };

  beforeAll(async () => {
    const bin = requireBinary(['docker-compose']);
    const image = await ensureRegcacheImage();
    await ensureRegistryImage();
    await removeCache();
    const id = Math.random().toString(16).slice(2, 8);
    const network = `regcache-it-${id}`;
    const nginxContainer = `regcache-it-${id}-nginx`;
    fx = await createContainerFixture('compose-docker', {
      network: 'bridge',
      configTop: {
        runtime: 'docker',
        nginx: { container: '${REGCACHE_NGINX_CONTAINER}', user: 'regcache' },
        docker: { image: 'registry:2', network: '${REGCACHE_DOCKER_NETWORK}' },
      },
    });
    project = `regcache-it-${fx.id}`;
    compose = await composeWithUpstream(fx, {
      bin,
      project,
      file: 'compose/docker-runtime.yml',
      image,
      env: { REGCACHE_NGINX_CONTAINER: nginxContainer, REGCACHE_DOCKER_NETWORK: network },
    });
    await compose(['up', '-d', '--no-build']);
  }, 900_000);

  afterAll(async () => {
    // The cache container is regcache's, not compose's, and keeps the network in use: stop regcache (so
    // it does not recreate it), remove it, then let compose remove the rest.
    if (compose) await compose(['stop', 'regcache']).catch(() => undefined);
    await removeCache();
    if (compose) await compose(['down', '-v', '--remove-orphans']).catch(() => undefined);
    await fx?.cleanup();
  });

  it('creates a cache container for the registry and serves pulls through the nginx container', async () => {
    await fx.waitReady();
    const cache = await inspectContainer(CACHE_CONTAINER);
    expect(cache?.running).toBe(true);
    expect(cache?.labels['io.regcache.vhost']).toBe(REGISTRY);
    expect(await fx.pull()).toBe(fx.image.manifestDigest);
    // Every blob came from the upstream, through the cache container. (Without the egress nginx in front,
    // distribution 2.8 fetches a blob it does not have twice: once for the client, once to store it.)
    const blobs = await fx.upstreamBlobGets();
    expect([...new Set(blobs)].sort()).toEqual([fx.image.config, ...fx.image.layers].map((b) => `/v2/team/app/blobs/${b.digest}`).sort());
  });
});
