import { get as httpGet } from 'node:http';
import { readFile, rename, rm } from 'node:fs/promises';
import type { Logger } from '../../log.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import type { Clock } from '../../util/clock.js';
import { sleep } from '../../util/clock.js';
import type { NginxDriver } from './nginx-driver.js';

export class NginxConfigRejected extends Error {
  constructor(readonly output: string) {
    super(`nginx rejected the generated config: ${output}`);
  }
}

export interface NginxApplyResult {
  changed: boolean;
}

export interface NginxController {
  /** Validate → atomic swap → reload → probe. Throws, leaving the live config untouched, when validation fails. */
  apply(config: string, generation: number): Promise<NginxApplyResult>;
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
  clock: Clock;
  logger: Logger;
  probeTimeoutMs?: number;
}

export function createNginxController(opts: NginxControllerOptions): NginxController {
  const { driver } = opts;
  let appliedBytes: string | null = null;

  // A fresh connection per probe: a pooled keep-alive connection may still belong to an old
  // worker that answers with the previous generation until it winds down.
  const servedGeneration = (): Promise<number | null> =>
    new Promise((resolve) => {
      const req = httpGet(`${opts.probeBase}/__regcache/generation`, { agent: false, timeout: 1000 }, (res) => {
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

  return {
    async apply(config, generation) {
      if (appliedBytes === null) appliedBytes = await readFile(driver.configFile, 'utf8').catch(() => null);
      const unchanged = appliedBytes === config && driver.state().running;
      if (unchanged) return { changed: false };

      const t0 = opts.clock.now();
      await writeFileAtomic(driver.candidateFile, config);
      const t1 = opts.clock.now();
      const result = await driver.test(driver.candidateFile);
      const t2 = opts.clock.now();
      if (!result.ok) {
        await rm(driver.candidateFile, { force: true });
        throw new NginxConfigRejected(result.output);
      }
      await rename(driver.candidateFile, driver.configFile);
      appliedBytes = config;
      await driver.startOrReload();
      const t3 = opts.clock.now();

      // Reload is asynchronous: wait until workers of the new config answer.
      const deadline = opts.clock.now() + (opts.probeTimeoutMs ?? 10_000);
      for (;;) {
        const served = await servedGeneration();
        if (served === generation) break;
        if (opts.clock.now() > deadline) {
          throw new Error(`nginx did not serve generation ${generation} within ${opts.probeTimeoutMs ?? 10_000} ms (serving ${served ?? 'nothing'})`);
        }
        await sleep(opts.clock, 10);
      }
      const t4 = opts.clock.now();
      opts.logger.info({ generation, ms: { write: t1 - t0, test: t2 - t1, swap: t3 - t2, live: t4 - t3 } }, 'nginx serves the new config');
      return { changed: true };
    },
    applied: () => appliedBytes,
    servedGeneration,
    stop: () => driver.stop(),
  };
}
