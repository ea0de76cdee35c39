import { routerBaseUrl } from '../config/router-address.js';
import { createLogger } from '../log.js';
import { createSystemClock } from '../util/clock.js';
import { createRouterClient } from '../warm/router-client.js';
import type { WarmImageProgress } from '../warm/warm-image.js';
import { createWarmJobs, type WarmJob } from '../warm/warm-jobs.js';
import { loadConfigOrReport, type CommandContext } from './command-context.js';

export const warmOptions = {
  config: { type: 'string', short: 'c' },
  platform: { type: 'string', multiple: true },
  router: { type: 'string' },
} as const;

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

function line(p: WarmImageProgress): string {
  const where = p.cache ? ` (${p.cache})` : '';
  if (p.state === 'failed') return `${p.image}${where}: FAILED: ${p.error}`;
  if (p.unchanged) return `${p.image}${where}: unchanged at ${p.digest}`;
  const platforms = p.platforms.length > 0 ? ` ${p.platforms.join(',')}` : '';
  return `${p.image}${where}:${platforms} blobs ${p.blobs.done}/${p.blobs.total} ${mib(p.bytes)}${p.state === 'done' ? ' done' : ''}`;
}

/**
 * `regcache warm --config F IMAGE…`: fetches each image through the router (the daemon's nginx must be
 * running), printing a line per image as blobs complete and a summary; exit 1 when any image failed.
 * Without images it warms the config's warm list once.
 */
export async function warmCommand(values: Record<string, unknown>, ctx: CommandContext, positionals: string[] = []): Promise<number> {
  const read = await loadConfigOrReport(values, ctx);
  if (!read) return 1;
  const { config } = read.loaded;
  let base = routerBaseUrl(config);
  if (typeof values.router === 'string') {
    try {
      base = new URL(values.router).origin;
    } catch {
      ctx.stderr.write(`regcache warm: --router: must be a URL such as http://127.0.0.1:5000 (got "${values.router}")\n`);
      return 2;
    }
  }
  const requests =
    positionals.length > 0
      ? [{ images: positionals, platforms: (values.platform as string[] | undefined) ?? null }]
      : config.warm.entries.map((e) => ({ images: [e.image], platforms: (values.platform as string[] | undefined) ?? e.platforms }));
  if (requests.length === 0) {
    ctx.stderr.write('regcache warm: name images (docker.io/library/alpine:3.19 …) or list them under warm.images in the config\n');
    return 2;
  }
  const clock = createSystemClock();
  const logger = createLogger({ level: 'silent' });
  const jobs = createWarmJobs({ client: createRouterClient(base), config: () => config, clock, logger });
  const started: WarmJob[] = [];
  for (const request of requests) {
    const r = jobs.start(request, 'cli');
    if ('problems' in r) {
      for (const p of r.problems) ctx.stderr.write(`regcache warm: ${p.path ? `${p.path}: ` : ''}${p.message}\n`);
      await jobs.stop();
      return 2;
    }
    started.push(r.job);
  }
  ctx.stdout.write(
    `warming ${started.reduce((n, j) => n + j.images.length, 0)} image(s) through ${base} for ${[...new Set(started.flatMap((j) => j.platforms))].join(', ')}\n`,
  );
  const t0 = clock.now();
  const shown = new Map<WarmImageProgress, string>();
  const show = () => {
    for (const p of started.flatMap((j) => j.images)) {
      if (p.state === 'pending') continue;
      const text = line(p);
      // A line per change of state or blob count, not per chunk.
      const key = `${p.state}|${p.blobs.done}|${p.blobs.total}`;
      if (shown.get(p) !== key) {
        shown.set(p, key);
        ctx.stdout.write(`${text}\n`);
      }
    }
  };
  const ticker = setInterval(show, 200);
  for (const job of started) await jobs.finished(job.id);
  clearInterval(ticker);
  show();
  await jobs.stop();
  const images = started.flatMap((j) => j.images);
  const failed = images.filter((p) => p.state !== 'done');
  const bytes = images.reduce((n, p) => n + p.bytes, 0);
  const blobs = images.reduce((n, p) => n + p.blobs.done, 0);
  const seconds = Math.max(0.001, (clock.now() - t0) / 1000);
  ctx.stdout.write(
    `warmed ${images.length - failed.length} of ${images.length} image(s): ${blobs} blobs, ${mib(bytes)} in ${seconds.toFixed(1)} s (${mib(bytes / seconds)}/s)\n`,
  );
  for (const p of failed) ctx.stderr.write(`failed: ${p.image}: ${p.error ?? p.state}\n`);
  return failed.length > 0 ? 1 : 0;
}
