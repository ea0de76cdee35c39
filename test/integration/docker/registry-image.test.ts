// The locally built registry:2 behaves like the real image: default config, port 5000, env overrides.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, waitFor } from '../../helpers/binaries.js';
import { detachedRunArgs, docker } from '../../helpers/docker-cli.js';
import { ensureRegistryImage } from '../../helpers/registry-image.js';

describe('registry:2 test image', () => {
  const name = `regcache-test-image-${process.pid}`;
  let port: number;

  beforeAll(async () => {
    await ensureRegistryImage();
    port = await findFreePort();
  });
  afterAll(async () => {
    await docker(['rm', '-f', '-v', name]).catch(() => undefined);
  });

  it('is idempotent and fast once built', async () => {
    const started = Date.now();
    await ensureRegistryImage();
    expect(Date.now() - started).toBeLessThan(5000);
    const entry = JSON.parse(
      await docker(['image', 'inspect', '--format', '{{json .Config.Entrypoint}} {{json .Config.Cmd}}', 'registry:2']).then(
        (s) => `[${s.trim().replace(' ', ',')}]`,
      ),
    );
    expect(entry).toEqual([['registry', 'serve'], ['/etc/docker/registry/config.yml']]);
  });

  it('serves /v2/ with env overrides on host networking', async () => {
    await docker(
      detachedRunArgs({
        name,
        network: 'host',
        env: { REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_LOG_FIELDS_VHOST: 'x' },
        image: 'registry:2',
      }),
    );
    const status = await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/v2/`);
        return res.status;
      },
      { timeoutMs: 15_000, what: 'registry container to answer' },
    );
    expect(status).toBe(200);
  });
});
