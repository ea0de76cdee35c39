// A missing cache image is pulled (progress in the log) before the first container is created.
// The image comes from a registry on loopback: dockerd treats 127.0.0.0/8 as an insecure registry.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { createDockerTestEnv, inspectContainer, type DockerTestEnv } from '../../helpers/docker-daemon.js';
import { docker, ensureRegistryImage } from '../../helpers/registry-image.js';
import { startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';
import { registrySlug } from '../../../src/config/parse.js';

const id = randomBytes(3).toString('hex');
const ONE = `one-${id}.pull`;

describe('docker runtime image pull', () => {
  let imageRegistry: UpstreamRegistry;
  let env: DockerTestEnv;
  let ref: string;

  beforeAll(async () => {
    await ensureRegistryImage();
    imageRegistry = await startUpstreamRegistry();
    ref = `${imageRegistry.host}/mirror/registry:2-${id}`;
    await docker(['tag', 'registry:2', ref]);
    await docker(['push', ref]);
    await docker(['rmi', ref]);
    await imageRegistry.settledRequests();
    imageRegistry.clearRequests();
    env = await createDockerTestEnv({ domain: 'registry.test' });
  });

  afterAll(async () => {
    await env?.cleanup();
    await docker(['rmi', ref]).catch(() => undefined);
    await imageRegistry?.stop();
  });

  it('pulls the configured image when it is missing, logging progress', async () => {
    await env.writeConfig({ [ONE]: { upstream: imageRegistry.url } }, { docker: { network: 'host', image: ref } });
    await env.start();
    const c = await waitFor(async () => (await inspectContainer(`regcache-${registrySlug(ONE)}`)) ?? undefined, { what: 'container' });
    expect(c.running).toBe(true);
    expect((await docker(['inspect', '--format', '{{.Config.Image}}', c.id])).trim()).toBe(ref);
    const pullLog = env.logs.filter((l) => l.includes('"pull progress"') || l.includes('pulling cache image'));
    expect(pullLog.some((l) => l.includes('pulling cache image'))).toBe(true);
    expect(pullLog.filter((l) => l.includes('pull progress')).length).toBeGreaterThan(0);
    expect(env.logs.some((l) => l.includes('cache image pulled'))).toBe(true);
    const asked = (await imageRegistry.settledRequests()).map((r) => `${r.method} ${r.path}`);
    expect(
      asked.filter((r) => r.includes('/v2/mirror/registry/manifests/')),
      asked.join('\n'),
    ).not.toEqual([]);
  });
});
