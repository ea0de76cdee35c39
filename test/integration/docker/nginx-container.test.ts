// nginx in a container (`nginx.container`): config through a shared directory, nginx -t via exec,
// reload via SIGHUP through the Docker API; caches on the Docker runtime.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainerNginx } from '../../../src/apply/nginx/container-nginx.js';
import { createDockerodeApi } from '../../../src/apply/runtime/docker/dockerode-api.js';
import { createLogger } from '../../../src/log.js';
import { waitFor } from '../../helpers/binaries.js';
import { createDockerTestEnv, type DockerTestEnv } from '../../helpers/docker-daemon.js';
import { generateImage } from '../../helpers/image.js';
import { ensureNginxImage, nginxContainerCommand } from '../../helpers/nginx-image.js';
import { getManifest } from '../../helpers/push.js';
import { routerGet } from '../../helpers/router-get.js';
import { docker, ensureRegistryImage } from '../../helpers/registry-image.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const id = randomBytes(3).toString('hex');
const ONE = `one-${id}.ngx`;

describe('nginx as a container', () => {
  const image = generateImage({ seed: `nginx-container-${id}`, layers: [1024] });
  const nginxName = `regcache-test-nginx-${id}`;
  let upstream: UpstreamRegistry;
  let env: DockerTestEnv;

  const started = async () => (await docker(['inspect', '--format', '{{.State.StartedAt}}', nginxName])).trim();
  // A fresh connection each time (routerGet): a pooled one may belong to a worker of the previous generation.
  const generation = async () => (await routerGet(env.nginxPort, '127.0.0.1', '/__regcache/generation')).body.toString().trim();
  const pullStatus = async (host: string) =>
    (await getManifest(`http://127.0.0.1:${env.nginxPort}`, 'library/app', 'v1', undefined, { headers: { host } })).status;

  beforeAll(async () => {
    await ensureRegistryImage();
    const nginxImage = await ensureNginxImage();
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: 'library/app', tag: 'v1', image }]);
    env = await createDockerTestEnv({ domain: 'registry.test' });
    const dir = join(env.dataDir, 'nginx');
    await mkdir(dir, { recursive: true });
    // Created, not started: regcache starts it when it first needs `nginx -t`.
    await docker([
      'create',
      '--name',
      nginxName,
      '--network',
      'host',
      '--restart',
      'unless-stopped',
      '--label',
      `io.regcache.instance=${env.instance}`,
      '-v',
      `${dir}:${dir}`,
      nginxImage,
      ...nginxContainerCommand(dir),
    ]);
    await env.writeConfig({ [ONE]: { upstream: upstream.url } }, { nginx: { container: nginxName } });
    await env.start();
  });

  afterAll(async () => {
    await env?.cleanup();
    await docker(['rm', '-f', '-v', nginxName]).catch(() => undefined);
    await upstream?.stop();
  });

  it('validates inside the container, starts it and routes through it', async () => {
    expect(await generation()).toBe('1');
    expect(await pullStatus(`${ONE}.${env.domain}`)).toBe(200);
    const status = (await env.api<{ nginx: { kind: string; running: boolean } }>('/api/v1/status')).body;
    expect(status.nginx).toMatchObject({ kind: 'container', running: true });
  });

  it('reloads with SIGHUP on a config change, without restarting the container', async () => {
    const before = await started();
    const served = Number(await generation());
    await env.writeConfig({ [ONE]: { upstream: upstream.url, aliases: [`alias-${id}.example.test`] } }, { nginx: { container: nginxName } });
    const r = await env.api<{ outcome: string; generation: number }>('/api/v1/reload', { method: 'POST' });
    expect(r.body).toMatchObject({ outcome: 'applied', generation: served + 1 });
    expect(await generation()).toBe(String(served + 1));
    expect(await pullStatus(`alias-${id}.example.test`)).toBe(200);
    expect(await started()).toBe(before);
  });

  it('validates with nginx -t inside the container and keeps the last good config on failure', async () => {
    // www-data exists on this Debian host but not in the nginx container: only a check inside it fails.
    const served = await generation();
    await env.writeConfig({ [ONE]: { upstream: upstream.url } }, { nginx: { container: nginxName, user: 'www-data' } });
    const r = await env.api<{ outcome: string; message: string }>('/api/v1/reload', { method: 'POST' });
    expect(r.status).toBe(422);
    expect(r.body.message).toMatch(/getpwnam\("www-data"\)/);
    expect(await generation()).toBe(served);
    expect(await pullStatus(`alias-${id}.example.test`)).toBe(200);
  });

  it('reopens its logs on request (SIGUSR1 through the API) after rotation renamed them', async () => {
    const dir = join(env.dataDir, 'nginx');
    const driver = createContainerNginx({
      api: createDockerodeApi({ kind: 'socket', path: '/var/run/docker.sock' }),
      container: nginxName,
      dir,
      logger: createLogger({ level: 'silent' }),
    });
    await rename(driver.paths.accessLog, `${driver.paths.accessLog}.1`);
    await driver.reopenLogs();
    await waitFor(
      async () => {
        await pullStatus(`${ONE}.${env.domain}`);
        return (await readFile(driver.paths.accessLog, 'utf8').catch(() => '')).includes('/v2/library/app/manifests/v1');
      },
      { what: 'a fresh access.log with the new request' },
    );
  });

  it('leaves the container serving when the daemon stops', async () => {
    await env.stopDaemon();
    expect((await docker(['inspect', '--format', '{{.State.Running}}', nginxName])).trim()).toBe('true');
    await waitFor(async () => (await pullStatus(`${ONE}.${env.domain}`)) === 200, { what: 'still serving' });
  });
});
