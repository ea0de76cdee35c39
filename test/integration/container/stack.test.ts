// The shipped compose/stack.yml on a single-node Swarm: `docker stack deploy` converges (the task runs
// and is healthy), the host-mode published port serves pulls, and the Docker secret reaches the cache
// through passwordFile. A second stack file adds the test's upstream registry as a service on the
// stack's network. The test makes this engine a Swarm manager only when it is not one already, and
// leaves the Swarm afterwards in that case.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { docker, ensureRegistryImage, requireDocker } from '../../helpers/registry-image.js';
import { ensureRegcacheImage, REPO_ROOT } from './images.js';
import { adminInContainer, containerState, createContainerFixture, upstreamService, type ContainerFixture } from './fixture.js';

const run = promisify(execFile);
const SECRET_NAME = 'regcache_dockerhub_password';

describe('docker stack deploy with compose/stack.yml', () => {
  let fx: ContainerFixture;
  let stack = '';
  let joinedSwarm = false;
  let hadGwBridge = true;
  let secretCreated = false;
  const secret = `stack-secret-${randomBytes(6).toString('hex')}`;

  const taskContainer = async (service: string) =>
    waitFor(
      async () => (await docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${stack}_${service}`])).trim().split('\n')[0] || false,
      {
        timeoutMs: 120_000,
        intervalMs: 1000,
        what: `a running task of ${stack}_${service}`,
      },
    );

  beforeAll(async () => {
    const image = await ensureRegcacheImage();
    await ensureRegistryImage();
    const info = JSON.parse(await docker(['info', '--format', '{{json .}}'])) as { LiveRestoreEnabled: boolean; Swarm: { LocalNodeState: string } };
    if (info.LiveRestoreEnabled)
      throw new Error('this Docker engine has live-restore enabled, which Swarm mode refuses; disable it to run the stack test');
    hadGwBridge = (await docker(['network', 'ls', '-q', '--filter', 'name=^docker_gwbridge$'])).trim() !== '';
    if (info.Swarm.LocalNodeState !== 'active') {
      await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:2377']);
      joinedSwarm = true;
    }
    fx = await createContainerFixture('stack', {
      network: 'bridge',
      registryExtra: { username: 'tester', passwordFile: '/run/secrets/dockerhub_password' },
      admin: adminInContainer(() => taskContainer('regcache')),
    });
    stack = `rcit${fx.id}`;
    fx.locateUpstream(async () => ({ upstream: await taskContainer('upstream'), neighbour: await taskContainer('regcache') }));
    await docker(['secret', 'create', SECRET_NAME, '-'], { input: secret });
    secretCreated = true;
    const override = join(fx.dir, 'upstream-stack.yml');
    await writeFile(
      override,
      stringify({
        version: '3.8',
        // dnsrr: the name resolves to the task itself; a virtual IP needs IPVS, which sandboxes may lack.
        services: { upstream: { ...upstreamService(fx.upstreamStorage), deploy: { endpoint_mode: 'dnsrr' } } },
      }),
    );
    const env = {
      ...process.env,
      REGCACHE_IMAGE: image,
      REGCACHE_PORT: String(fx.routerPort),
      REGCACHE_CONFIG_FILE: join(fx.configDir, 'registries.yaml'),
      REGCACHE_CONFIG_VERSION: fx.id,
    };
    const argv = ['stack', 'deploy', '--resolve-image', 'never', '-c', join(REPO_ROOT, 'compose/stack.yml'), '-c', override, stack];
    await run(requireDocker(), argv, { env, timeout: 120_000 }).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`docker ${argv.join(' ')} failed: ${err.stderr || err.message}`);
    });
  }, 900_000);

  afterAll(async () => {
    if (stack) {
      await docker(['stack', 'rm', stack]).catch(() => undefined);
      // The volume is free once the task's container is gone.
      await waitFor(async () => (await docker(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${stack}`])).trim() === '', {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: `the containers of stack ${stack} to be removed`,
      }).catch(() => undefined);
      await waitFor(async () => (await docker(['volume', 'rm', '-f', `${stack}_data`]), true), { timeoutMs: 30_000, intervalMs: 1000 }).catch(
        () => undefined,
      );
    }
    if (secretCreated) await docker(['secret', 'rm', SECRET_NAME]).catch(() => undefined);
    if (joinedSwarm) {
      await docker(['swarm', 'leave', '--force']).catch(() => undefined);
      if (!hadGwBridge) await docker(['network', 'rm', 'docker_gwbridge']).catch(() => undefined);
    }
    await fx?.cleanup();
  });

  it('converges: the global service runs one healthy task, as the unprivileged user', async () => {
    await waitFor(
      async () => {
        const replicas = (await docker(['service', 'ls', '--filter', `name=${stack}_regcache`, '--format', '{{.Replicas}}'])).trim();
        return replicas === '1/1';
      },
      { timeoutMs: 180_000, intervalMs: 1000, what: `service ${stack}_regcache at 1/1` },
    );
    const task = await taskContainer('regcache');
    await waitFor(async () => (await containerState(task)).health === 'healthy', { timeoutMs: 120_000, intervalMs: 1000, what: 'a healthy task' });
    expect((await containerState(task)).user).toBe('regcache');
  });

  it('serves pulls on the host-mode published port', async () => {
    await fx.waitReady();
    expect(await fx.pull()).toBe(fx.image.manifestDigest);
    const blobs = await fx.upstreamBlobGets();
    expect(blobs.sort()).toEqual([fx.image.config, ...fx.image.layers].map((b) => `/v2/team/app/blobs/${b.digest}`).sort());
  });

  it('hands the Docker secret to the cache through passwordFile', async () => {
    const task = await taskContainer('regcache');
    expect((await docker(['exec', task, 'cat', '/run/secrets/dockerhub_password'])).trim()).toBe(secret);
    // The cache's own config (0600, the regcache user's) carries the upstream login.
    const cacheConfig = await docker(['exec', task, 'sh', '-c', 'cat /var/lib/regcache/run/*/config.yml']);
    expect(cacheConfig).toContain(secret);
    expect(cacheConfig).toContain('tester');
  });
});
