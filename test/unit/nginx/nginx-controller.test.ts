import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NginxApplyFailed, NginxConfigRejected, createNginxController } from '../../../src/apply/nginx/nginx-controller.js';
import { mayAccept, stillAccepting, type NginxWorker } from '../../../src/apply/nginx/nginx-workers.js';
import type { NginxDriver } from '../../../src/apply/nginx/nginx-driver.js';
import { FIRST_ACCEPT_LINE_ONLY } from '../../../src/apply/nginx/nginx-features.js';
import { createLogger } from '../../../src/log.js';
import { createSystemClock } from '../../../src/util/clock.js';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.js';

/**
 * A driver that behaves like nginx on reload: a config with "busy-port" is refused with an [emerg]
 * in the error log (the old config keeps serving), "bad" fails nginx -t, "stuck" loads without error
 * but the old workers keep answering, anything else serves its generation. With `retire: false` the
 * previous workers never stop accepting.
 */
function fakeDriver(dir: string, serve: { generation: number | null }, opts: { retire?: boolean } = {}) {
  /** Workers as listed: each reload starts a new one and tells the old ones to shut down two listings later. */
  let workers: NginxWorker[] = [];
  let nextPid = 100;
  let retireIn = 0;
  const workerListings: NginxWorker[][] = [];
  const configFile = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'error.log');
  let running = false;
  const reloads: string[] = [];
  const driver: NginxDriver = {
    kind: 'process',
    configFile,
    candidateFile: path.join(dir, 'nginx.conf.candidate'),
    paths: { pid: '', errorLog, accessLog: '', temp: '', cache: '' },
    workerUser: async () => null,
    acceptSupport: async () => FIRST_ACCEPT_LINE_ONLY,
    test: async (file) => {
      const text = await readFile(file, 'utf8');
      return text.includes('bad') ? { ok: false, output: 'nginx: [emerg] unknown directive "bad"' } : { ok: true, output: '' };
    },
    startOrReload: async () => {
      running = true;
      workers = [...workers, { pid: nextPid++, title: 'nginx: worker process' }];
      retireIn = 2;
      const text = await readFile(configFile, 'utf8');
      reloads.push(text);
      if (text.includes('busy-port')) await appendFile(errorLog, 'nginx: [emerg] bind() to 127.0.0.1:80 failed (98: Address already in use)\n');
      else if (!text.includes('stuck')) serve.generation = Number(/generation (\d+)/.exec(text)![1]);
    },
    stop: async () => {
      running = false;
    },
    adopt: async () => false,
    errorLogSize: async () => (await stat(errorLog).catch(() => null))?.size ?? 0,
    errorLogSince: async (offset) => (await readFile(errorLog, 'utf8').catch(() => '')).slice(offset),
    reopenLogs: async () => undefined,
    state: () => ({ running, pid: running ? 1 : null, restarts: 0, lastError: null }),
    workers: async () => {
      if (retireIn > 0 && --retireIn === 0 && opts.retire !== false) {
        const newest = workers.at(-1)!.pid;
        workers = workers.map((w) => (w.pid === newest ? w : { ...w, title: 'nginx: worker process is shutting down' }));
      }
      workerListings.push(workers);
      return workers;
    },
  };
  return { driver, reloads, workerListings };
}

describe('nginx controller', () => {
  let dir: string;
  let server: Server;
  const serve: { generation: number | null } = { generation: null };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-controller-'));
    server = createServer((_req, res) => {
      if (serve.generation === null) res.writeHead(502).end();
      else res.end(String(serve.generation));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  /** A controller whose generation probe asks the server above. */
  const controllerFor = (driver: NginxDriver) =>
    createNginxController({
      driver,
      probeBase: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
      clock: createSystemClock(),
      logger: createLogger({ level: 'silent' }),
    });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('puts the last good file back when a reload is refused, and applies the same bytes again on the next try', async () => {
    const { driver, reloads } = fakeDriver(dir, serve);
    const nginx = controllerFor(driver);
    expect(await nginx.apply('generation 1\n', 1)).toEqual({ changed: true });

    const refused = await nginx.apply('generation 2\nlisten busy-port\n', 2).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NginxApplyFailed);
    expect((refused as NginxApplyFailed).message).toContain('Address already in use');
    // What a restarted nginx would load, and what the next pass compares with, is the last good config.
    expect(await readFile(driver.configFile, 'utf8')).toBe('generation 1\n');
    expect(nginx.applied()).toBe('generation 1\n');
    expect(reloads.at(-1)).toBe('generation 1\n');
    expect(serve.generation).toBe(1);
    // Not "unchanged": the same candidate is tried again.
    await expect(nginx.apply('generation 2\nlisten busy-port\n', 2)).rejects.toBeInstanceOf(NginxApplyFailed);

    await expect(nginx.apply('generation 2\nbad\n', 2)).rejects.toBeInstanceOf(NginxConfigRejected);
    expect(await readFile(driver.configFile, 'utf8')).toBe('generation 1\n');
    expect(await nginx.apply('generation 2\n', 2)).toEqual({ changed: true });
    expect(serve.generation).toBe(2);
  });

  it('returns from a reload only once the previous workers stopped taking connections', async () => {
    const { driver, workerListings } = fakeDriver(dir, serve);
    const nginx = controllerFor(driver);
    await nginx.apply('generation 1\n', 1);
    await nginx.apply('generation 2\n', 2);
    const last = workerListings.at(-1)!;
    expect(last.map((w) => w.title)).toEqual(['nginx: worker process is shutting down', 'nginx: worker process']);
    expect(stillAccepting([last[0]!.pid], last)).toEqual([]);
  });
});

describe('nginx controller on the fake clock (probe injected)', () => {
  const TIMEOUT = 500;
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const setup = async (driverOpts: { retire?: boolean } = {}) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'regcache-controller-'));
    dirs.push(dir);
    const serve: { generation: number | null } = { generation: null };
    const fake = fakeDriver(dir, serve, driverOpts);
    const clock = createFakeClock(1_000_000);
    const warnings: Array<{ msg: string; pids?: number[] }> = [];
    const destination = new Writable({ write: (c, _e, cb) => (warnings.push(JSON.parse(String(c))), cb()) });
    const nginx = createNginxController({
      driver: fake.driver,
      probeBase: 'http://127.0.0.1:9', // unused: the probe below answers
      probe: async () => serve.generation,
      clock,
      logger: createLogger({ level: 'warn', destination }),
      probeTimeoutMs: TIMEOUT,
    });
    return { ...fake, serve, clock, nginx, warnings };
  };

  /** Runs an apply, moving the fake clock only while the controller sleeps on it; how it ended and the fake ms it took. */
  const timed = async <T>(clock: FakeClock, run: () => Promise<T>) => {
    const start = clock.now();
    let outcome: { value?: T; error?: unknown } | null = null;
    run().then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    );
    for (let turns = 0; outcome === null && turns < 100_000; turns++) {
      if (clock.pending() > 0) await clock.advance(10);
      else await new Promise((r) => setImmediate(r));
    }
    expect(outcome, 'the apply never settled').not.toBeNull();
    return { ...outcome!, ms: clock.now() - start };
  };

  it('fails a reload whose new generation never answers at the probe timeout, and puts the last good file back', async () => {
    const t = await setup();
    expect((await timed(t.clock, () => t.nginx.apply('generation 1\n', 1))).value).toEqual({ changed: true });

    const r = await timed(t.clock, () => t.nginx.apply('generation 2\nstuck\n', 2));
    expect(r.error).toBeInstanceOf(NginxApplyFailed);
    expect((r.error as NginxApplyFailed).step).toBe('probe');
    expect((r.error as NginxApplyFailed).message).toBe(`nginx did not serve generation 2 within ${TIMEOUT} ms (serving 1)`);
    // It kept probing for the whole timeout (10 ms apart), and not much longer.
    expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT);
    expect(r.ms).toBeLessThanOrEqual(TIMEOUT + 20);
    expect(await readFile(t.driver.configFile, 'utf8')).toBe('generation 1\n');
    expect(t.nginx.applied()).toBe('generation 1\n');
    expect(t.reloads.at(-1)).toBe('generation 1\n');
    expect(t.clock.pending()).toBe(0);
  });

  it('waits for the previous workers to retire, and goes on with a warning at the timeout when they never do', async () => {
    const retiring = await setup();
    await timed(retiring.clock, () => retiring.nginx.apply('generation 1\n', 1));
    const quick = await timed(retiring.clock, () => retiring.nginx.apply('generation 2\n', 2));
    expect(quick.value).toEqual({ changed: true });
    expect(quick.ms).toBeGreaterThan(0); // it listed the workers again at least once
    expect(quick.ms).toBeLessThan(TIMEOUT);
    expect(retiring.warnings).toEqual([]);

    const t = await setup({ retire: false });
    await timed(t.clock, () => t.nginx.apply('generation 1\n', 1));
    const oldPid = 100; // the fake's first worker
    const r = await timed(t.clock, () => t.nginx.apply('generation 2\n', 2));
    // The new config is live (it answers the probe), so the apply succeeds; the old workers are logged.
    expect(r.value).toEqual({ changed: true });
    expect(t.nginx.applied()).toBe('generation 2\n');
    expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT);
    expect(r.ms).toBeLessThanOrEqual(TIMEOUT + 20);
    expect(t.warnings).toMatchObject([{ msg: 'workers of the previous nginx config still accept connections', pids: [oldPid] }]);
    expect(t.clock.pending()).toBe(0);
  });
});

describe('nginx workers', () => {
  it('counts a worker as accepting until it retitles itself as shutting down; cache processes never accept', () => {
    const now: NginxWorker[] = [
      { pid: 1, title: 'nginx: worker process' },
      { pid: 2, title: 'nginx: worker process is shutting down' },
      { pid: 3, title: 'nginx: cache manager process' },
      { pid: 4, title: 'nginx: worker process' },
    ];
    expect(stillAccepting([1, 2, 3, 9], now)).toEqual([1]);
    expect(now.filter(mayAccept).map((w) => w.pid)).toEqual([1, 4]);
  });
});
