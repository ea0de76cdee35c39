import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon } from '../../../src/daemon.js';
import { createLogger } from '../../../src/log.js';
import { StartupError } from '../../../src/apply/runtime/select-runtime.js';
import { createFakeClock } from '../../helpers/fake-clock.js';
import { findFreePort } from '../../helpers/binaries.js';

// A start that fails after the cache runtime was built must not leave it running: a Docker runtime
// subscribes to the engine's events when it is built and, while the engine does not answer, keeps a
// reconnect timer. On the fake clock anything left running shows as a pending timer.
describe('a failed start', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stops what it built before the failing step: no timer left on the clock', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-failed-start-'));
    const configPath = path.join(dir, 'registries.yaml');
    await writeFile(
      configPath,
      [
        'domain: example.test',
        `listen: 127.0.0.1:${await findFreePort()}`,
        `admin: { listen: "127.0.0.1:${await findFreePort()}" }`,
        `dataDir: ${path.join(dir, 'data')}`,
        'runtime: docker',
        // No engine here: the runtime's event subscription fails and it schedules a reconnect.
        `docker: { socket: "unix://${path.join(dir, 'no-engine.sock')}" }`,
        'registries:',
        '  docker.io:',
        '    upstream: https://registry-1.docker.io',
        '',
      ].join('\n'),
    );
    const clock = createFakeClock(Date.now());
    const started = startDaemon({
      configPath,
      // The step after the runtime fails: no nginx binary.
      env: { REGCACHE_NGINX_BIN: path.join(dir, 'no-nginx') },
      clock,
      logger: createLogger({ level: 'silent' }),
    });
    const err = await started.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toContain('nginx not found');
    // Long enough for the refused connection to the socket to come back (it takes a few ms).
    await new Promise((r) => setTimeout(r, 500));
    await clock.advance(0);
    expect(clock.pending()).toBe(0);
  });
});
