import { get as httpGet } from 'node:http';
import { readFile, rename, rm } from 'node:fs/promises';
import type { Logger } from '../../log.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import type { Clock } from '../../util/clock.js';
import { sleep } from '../../util/clock.js';
import type { NginxDriver } from './nginx-driver.js';
import { stillAccepting, type NginxWorker } from './nginx-workers.js';

export class NginxConfigRejected extends Error {
  constructor(readonly output: string) {
    super(`nginx rejected the generated config: ${output}`);
  }
}

/** A config that passed `nginx -t` but did not go live (reload or start failed, or the probe never saw it). */
export class NginxApplyFailed extends Error {
  constructor(
    readonly step: 'reload' | 'probe',
    readonly output: string,
  ) {
    super(step === 'reload' ? `nginx did not load the new config: ${output}` : output);
  }
}

export interface NginxApplyResult {
  changed: boolean;
}

export interface NginxController {
  /**
   * Validate → atomic swap → reload → probe. Throws NginxConfigRejected when validation fails and
   * NginxApplyFailed when the reload does not take; either way the last good file is back in place
   * (and live), so neither a reload nor a restart of nginx loads the failed one.
   */
  apply(config: string, generation: number): Promise<NginxApplyResult>;
  /** `nginx -t` on a candidate, nothing goes live. Throws NginxConfigRejected. */
  test(config: string): Promise<void>;
  /**
   * Takes over an nginx an earlier daemon left running on this prefix: the generation it serves,
   * or null (none found, or it does not answer the probe and was stopped).
   */
  adopt(): Promise<number | null>;
  /** The bytes nginx was last told to serve. */
  applied(): string | null;
  /** The generation nginx answers with right now, or null when it does not answer. */
  servedGeneration(): Promise<number | null>;
  stop(): Promise<void>;
}

export interface NginxControllerOptions {
  driver: NginxDriver;
  /** http://127.0.0.1:PORT, where the probe reaches nginx. */
  probeBase: string;
  /** The generation probe; the HTTP one against probeBase (httpGenerationProbe) unless a test passes its own. */
  probe?: () => Promise<number | null>;
  clock: Clock;
  logger: Logger;
  probeTimeoutMs?: number;
}

/**
 * The generation nginx answers with at base/__regcache/generation, null when it does not answer. A
 * fresh connection per probe: a pooled keep-alive connection may still belong to an old worker that
 * answers with the previous generation until it winds down.
 */
export function httpGenerationProbe(base: string): () => Promise<number | null> {
  return () =>
    new Promise((resolve) => {
      const req = httpGet(`${base}/__regcache/generation`, { agent: false, timeout: 1000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          const n = Number(body.trim());
          resolve(res.statusCode === 200 && body.trim() !== '' && Number.isFinite(n) ? n : null);
        });
        res.on('error', () => resolve(null));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(null));
    });
}

export function createNginxController(opts: NginxControllerOptions): NginxController {
  const { driver } = opts;
  let appliedBytes: string | null = null;
  /** Whether appliedBytes were ever live through this controller (applied or adopted), not just found on disk. */
  let wasLive = false;

  const servedGeneration = opts.probe ?? httpGenerationProbe(opts.probeBase);

  /** The bytes the last test passed: apply does not run `nginx -t` twice on them in one pass. */
  let lastTested: string | null = null;
  const test = async (config: string) => {
    lastTested = null;
    await writeFileAtomic(driver.candidateFile, config);
    const result = await driver.test(driver.candidateFile);
    if (!result.ok) {
      await rm(driver.candidateFile, { force: true });
      throw new NginxConfigRejected(result.output);
    }
    lastTested = config;
  };

  // Reload is asynchronous: wait until workers of the new config answer. A reload nginx refuses
  // (a listen address in use, a certificate it cannot read) is an [emerg] in its error log.
  const waitServed = async (generation: number, logOffset: number) => {
    const timeoutMs = opts.probeTimeoutMs ?? 10_000;
    const deadline = opts.clock.now() + timeoutMs;
    for (;;) {
      const served = await servedGeneration();
      if (served === generation) return;
      const emerg = (await driver.errorLogSince(logOffset)).split('\n').filter((l) => l.includes('[emerg]'));
      if (emerg.length > 0) throw new NginxApplyFailed('reload', emerg.slice(0, 3).join('\n'));
      if (opts.clock.now() > deadline) {
        throw new NginxApplyFailed('probe', `nginx did not serve generation ${generation} within ${timeoutMs} ms (serving ${served ?? 'nothing'})`);
      }
      await sleep(opts.clock, 10);
    }
  };

  // nginx keeps the previous workers accepting for a while (≥100 ms) after the new ones answer: a
  // new connection may still get the old config until each old worker has closed its listeners.
  const waitRetired = async (before: NginxWorker[] | null) => {
    if (!before || before.length === 0) return;
    const pids = before.map((w) => w.pid);
    const deadline = opts.clock.now() + (opts.probeTimeoutMs ?? 10_000);
    for (;;) {
      const now = await driver.workers();
      if (now === null || stillAccepting(pids, now).length === 0) return;
      if (opts.clock.now() > deadline) {
        opts.logger.warn({ pids: stillAccepting(pids, now) }, 'workers of the previous nginx config still accept connections');
        return;
      }
      await sleep(opts.clock, 10);
    }
  };

  return {
    test,
    async adopt() {
      if (!(await driver.adopt())) return null;
      const served = await servedGeneration();
      if (served === null) {
        opts.logger.warn('the nginx left running does not answer the generation probe; replacing it');
        await driver.stop();
        return null;
      }
      appliedBytes = await readFile(driver.configFile, 'utf8').catch(() => null);
      wasLive = appliedBytes !== null;
      return served;
    },
    async apply(config, generation) {
      if (appliedBytes === null) appliedBytes = await readFile(driver.configFile, 'utf8').catch(() => null);
      const unchanged = appliedBytes === config && driver.state().running;
      if (unchanged) return { changed: false };

      const t0 = opts.clock.now();
      // test() leaves the candidate file it passed in place: no second write and nginx -t for it.
      if (config !== lastTested) await test(config);
      lastTested = null;
      const t1 = opts.clock.now();
      const previous = appliedBytes;
      const wasRunning = driver.state().running;
      const logOffset = await driver.errorLogSize();
      const workersBefore = wasRunning ? await driver.workers() : [];
      await rename(driver.candidateFile, driver.configFile);
      try {
        await driver.startOrReload();
        const t2 = opts.clock.now();
        await waitServed(generation, logOffset);
        await waitRetired(workersBefore);
        appliedBytes = config;
        wasLive = true;
        const t3 = opts.clock.now();
        opts.logger.info({ generation, ms: { test: t1 - t0, swap: t2 - t1, live: t3 - t2 } }, 'nginx serves the new config');
        return { changed: true };
      } catch (err) {
        await restore(previous, wasRunning);
        throw err;
      }
    },
    applied: () => appliedBytes,
    servedGeneration,
    stop: () => driver.stop(),
  };

  /** The last good file back in place and live; an nginx this apply started is stopped again. */
  async function restore(previous: string | null, wasRunning: boolean) {
    try {
      if (previous === null) {
        await driver.stop();
        await rm(driver.configFile, { force: true });
        return;
      }
      await writeFileAtomic(driver.configFile, previous);
      appliedBytes = previous;
      if (!wasRunning) {
        await driver.stop();
        // Down between a crash and its restart: back up on the last good file.
        if (wasLive) await driver.startOrReload();
      } else if (driver.state().running) {
        // nginx that refused the reload still runs the old config; one that took it must go back.
        await driver.startOrReload();
      }
    } catch (err) {
      opts.logger.error({ err: (err as Error).message }, 'could not put the last good nginx config back');
    }
  }
}
