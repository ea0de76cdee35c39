// runtime: auto picks docker when the configured socket answers, else the process runtime.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPortBook, portBookFile } from '../../../src/apply/runtime/port-book.js';
import { dockerApiFor, selectRuntime } from '../../../src/apply/runtime/select-runtime.js';
import { parseConfig } from '../../../src/config/parse.js';
import { createLogger } from '../../../src/log.js';
import { createSystemClock } from '../../../src/util/clock.js';
import { requireDockerEngine } from '../../helpers/registry-image.js';

describe('selectRuntime', () => {
  let dir: string;
  beforeAll(async () => {
    await requireDockerEngine();
    dir = await mkdtemp(join(tmpdir(), 'regcache-select-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const select = async (runtime: string, socket: string | null, env: Record<string, string> = {}) => {
    const docker = socket ? `docker:\n  socket: ${socket}\n` : '';
    const parsed = parseConfig(
      `domain: registry.test\nruntime: ${runtime}\ndataDir: ${dir}\n${docker}registries:\n  a.test:\n    upstream: http://127.0.0.1:9\n`,
      {
        source: join(dir, 'registries.yaml'),
        env,
      },
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const runtimeObj = await selectRuntime({
      config: parsed.value,
      env,
      clock: createSystemClock(),
      logger: createLogger({ level: 'silent' }),
      ports: createPortBook(portBookFile(dir)),
      docker: dockerApiFor(parsed.value, env),
    });
    await runtimeObj.stop();
    return runtimeObj.kind;
  };

  it('auto: docker when the socket answers', async () => {
    expect(await select('auto', '/var/run/docker.sock')).toBe('docker');
    expect(await select('auto', null, { DOCKER_HOST: 'unix:///var/run/docker.sock' })).toBe('docker');
  });

  it('auto: process when nothing answers there', async () => {
    expect(await select('auto', join(dir, 'no-docker.sock'))).toBe('process');
    expect(await select('auto', null, { DOCKER_HOST: `unix://${join(dir, 'nothing.sock')}` })).toBe('process');
  });

  it('explicit choices win', async () => {
    expect(await select('docker', join(dir, 'no-docker.sock'))).toBe('docker');
    expect(await select('process', '/var/run/docker.sock')).toBe('process');
  });
});
