import { randomBytes } from 'node:crypto';
import type { RegcacheConfig } from '../config/model.js';
import { hostPlatform, parsePlatform, formatPlatform, type Platform } from '../config/platform.js';
import type { Logger } from '../log.js';
import { isoTime, type Clock } from '../util/clock.js';
import type { RouterClient } from './router-client.js';
import { pendingImage, warmImage, type ImageContent, type WarmImageProgress } from './warm-image.js';
import { resolveWarmTarget } from './warm-target.js';

/** Who asked: the API, the config's warm list, the CLI, or the daemon re-resolving API pins at start. */
export type WarmOrigin = 'api' | 'config' | 'cli' | 'pin';

/** One warm request and its progress; plain data (the API returns it as is). */
export interface WarmJob {
  id: string;
  origin: WarmOrigin;
  state: 'queued' | 'running' | 'done' | 'failed';
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  platforms: string[];
  /** The images are pinned: what they resolve to is handed to the pins (WarmPinSink). */
  pin: boolean;
  images: WarmImageProgress[];
  totals: { images: number; done: number; failed: number; blobs: number; bytes: number };
}

export interface WarmRequest {
  images: string[];
  /** null or absent: warm.platforms of the config, else the host's. */
  platforms?: string[] | null;
  /** Pin the images: their content is recorded as pinned once resolved (src/pin/). */
  pin?: boolean;
}

/** Hears what pinned warms resolve to; src/pin/ implements it. Image is canonical, platforms formatted. */
export interface WarmPinSink {
  /** The digest the pin's current set was resolved from for these platforms, if any: a run finding it again fetches nothing. */
  currentDigest(image: string, cache: string, platforms: string[]): string | null;
  /** The manifests are read: this content is about to be fetched (pin it now, beside the current set). */
  planned(image: string, cache: string, platforms: string[], content: ImageContent): void;
  /** Every blob fetched: this is the pin's set now. */
  resolved(image: string, cache: string, platforms: string[], content: ImageContent): void;
  failed(image: string, cache: string, error: string): void;
}

export interface WarmJobs {
  /** Queues a job (jobs run one at a time); a request it cannot take at all is an error naming the field. */
  start(request: WarmRequest, origin: WarmOrigin): { job: WarmJob } | { problems: Array<{ path: string; message: string }> };
  get(id: string): WarmJob | null;
  /** Newest first. */
  list(): WarmJob[];
  /** Resolves when this job has finished. */
  finished(id: string): Promise<WarmJob | null>;
  stop(): Promise<void>;
}

const MAX_IMAGES = 100;

/** Platforms of a request: named, else the config's, else the host's. */
export function warmPlatforms(requested: string[] | null | undefined, config: RegcacheConfig): Platform[] | { problem: string } {
  const names = requested ?? config.warm.platforms ?? [formatPlatform(hostPlatform())];
  const out: Platform[] = [];
  for (const name of names) {
    const p = parsePlatform(name);
    if (!p) return { problem: `"${name}" must be os/arch or os/arch/variant, e.g. linux/amd64` };
    out.push(p);
  }
  return out;
}

/**
 * Warm jobs: each image is fetched through the router (warmImage) by the cache that mirrors its registry
 * host in the config given at start. Jobs queue and run one at a time; the last `keep` stay listed.
 */
export function createWarmJobs(deps: {
  client: RouterClient;
  config: () => RegcacheConfig | null;
  clock: Clock;
  logger: Logger;
  keep?: number;
  pins?: WarmPinSink;
}): WarmJobs {
  const keep = deps.keep ?? 50;
  const jobs: WarmJob[] = [];
  const done = new Map<string, Promise<void>>();
  // Periodic (config) runs: the digest each image + platforms resolved to last time it was fetched whole.
  const lastDigest = new Map<string, string>();
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  const iso = () => isoTime(deps.clock.now());

  const total = (job: WarmJob) => {
    job.totals = {
      images: job.images.length,
      done: job.images.filter((i) => i.state === 'done').length,
      failed: job.images.filter((i) => i.state === 'failed').length,
      blobs: job.images.reduce((n, i) => n + i.blobs.done, 0),
      bytes: job.images.reduce((n, i) => n + i.bytes, 0),
    };
  };

  const run = async (job: WarmJob, platforms: Platform[], config: RegcacheConfig) => {
    job.state = 'running';
    job.startedAt = iso();
    for (const progress of job.images) {
      if (stopped) break;
      if (progress.state === 'failed') continue;
      const target = resolveWarmTarget(progress.image, config);
      if ('error' in target) continue;
      const key = JSON.stringify([progress.image, job.platforms]);
      const sink = job.pin ? deps.pins : undefined;
      // A pin is unchanged only if its own set came from this digest (it may have been added since the last run).
      const unchangedIf =
        job.origin === 'api' || job.origin === 'cli'
          ? undefined
          : sink
            ? (sink.currentDigest(target.image, target.cache, job.platforms) ?? undefined)
            : lastDigest.get(key);
      const content = await warmImage(target, platforms, deps.client, progress, {
        onChange: () => total(job),
        unchangedIf,
        onPlanned: sink ? (c) => sink.planned(target.image, target.cache, job.platforms, c) : undefined,
      });
      if (progress.state === 'done' && progress.digest) lastDigest.set(key, progress.digest);
      if (sink && content) sink.resolved(target.image, target.cache, job.platforms, content);
      else if (sink && progress.error !== null) sink.failed(target.image, target.cache, progress.error);
      const log = progress.state === 'done' ? deps.logger.info.bind(deps.logger) : deps.logger.warn.bind(deps.logger);
      log(
        {
          job: job.id,
          image: progress.image,
          cache: progress.cache,
          state: progress.state,
          bytes: progress.bytes,
          blobs: progress.blobs.done,
          error: progress.error,
        },
        'warm image',
      );
    }
    total(job);
    job.state = job.totals.failed > 0 || job.totals.done < job.images.length ? 'failed' : 'done';
    job.finishedAt = iso();
  };

  return {
    start(request, origin) {
      const problems: Array<{ path: string; message: string }> = [];
      const config = deps.config();
      if (!config) return { problems: [{ path: '', message: 'no configuration applied yet' }] };
      if (!Array.isArray(request.images) || request.images.length === 0) problems.push({ path: 'images', message: 'must list at least one image' });
      else if (request.images.length > MAX_IMAGES) problems.push({ path: 'images', message: `at most ${MAX_IMAGES} images per job` });
      else request.images.forEach((img, i) => typeof img !== 'string' && problems.push({ path: `images.${i}`, message: 'must be a string' }));
      if (request.platforms != null && (!Array.isArray(request.platforms) || request.platforms.some((p) => typeof p !== 'string'))) {
        problems.push({ path: 'platforms', message: 'must be a list of os/arch strings' });
      }
      if (problems.length > 0) return { problems };
      const platforms = warmPlatforms(request.platforms, config);
      if ('problem' in platforms) return { problems: [{ path: 'platforms', message: platforms.problem }] };
      const images = request.images.map((text) => {
        const target = resolveWarmTarget(text, config);
        if ('error' in target) return { ...pendingImage(target.image, null), state: 'failed' as const, error: target.error };
        return pendingImage(target.image, target.cache);
      });
      const job: WarmJob = {
        id: `w${Date.now().toString(36)}${randomBytes(3).toString('hex')}`,
        origin,
        state: 'queued',
        createdAt: iso(),
        startedAt: null,
        finishedAt: null,
        platforms: platforms.map(formatPlatform),
        pin: request.pin === true,
        images,
        totals: { images: 0, done: 0, failed: 0, blobs: 0, bytes: 0 },
      };
      total(job);
      jobs.unshift(job);
      for (const old of jobs.splice(keep)) done.delete(old.id);
      const finished = chain
        .then(() => run(job, platforms, config))
        .catch((err) => {
          job.state = 'failed';
          job.finishedAt = iso();
          deps.logger.error({ job: job.id, err: (err as Error).message }, 'warm job failed');
        });
      chain = finished;
      done.set(job.id, finished);
      return { job };
    },
    get: (id) => jobs.find((j) => j.id === id) ?? null,
    list: () => [...jobs],
    async finished(id) {
      await done.get(id);
      return jobs.find((j) => j.id === id) ?? null;
    },
    async stop() {
      stopped = true;
      // Destroying the sockets fails the download in flight, so shutdown does not wait for it.
      deps.client.close();
      await chain;
    },
  };
}
