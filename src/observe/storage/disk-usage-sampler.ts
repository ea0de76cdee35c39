import type { Clock, TimerHandle } from '../../util/clock.js';
import type { CacheStorageInspector, DiskUsage } from './cache-storage.js';

export interface DiskSample extends DiskUsage {
  measuredAtMs: number;
}

export interface DiskUsageSampler {
  latest(name: string): DiskSample | null;
  /** Measures every cache now, one after another (what the periodic loop does). */
  sampleAll(): Promise<void>;
  start(): void;
  stop(): void;
}

/**
 * Walking a cache's storage costs I/O proportional to its file count, so it runs in the background,
 * one cache at a time, every intervalMs (default 60 s); readers get the last result.
 */
export function createDiskUsageSampler(opts: {
  inspector: CacheStorageInspector;
  names: () => string[];
  clock: Clock;
  intervalMs?: number;
}): DiskUsageSampler {
  const samples = new Map<string, DiskSample>();
  const every = opts.intervalMs ?? 60_000;
  let timer: TimerHandle | null = null;
  let stopped = true;
  let running: Promise<void> | null = null;

  const sampleAll = () => {
    running ??= (async () => {
      const names = opts.names();
      for (const name of samples.keys()) if (!names.includes(name)) samples.delete(name);
      for (const name of names) {
        const usage = await opts.inspector.diskUsage(name).catch(() => null);
        if (usage) samples.set(name, { ...usage, measuredAtMs: opts.clock.now() });
        else samples.delete(name);
      }
    })().finally(() => {
      running = null;
    });
    return running;
  };

  /** Bumped by every start(): a round still running from before a stop() must not arm a second loop. */
  let runs = 0;
  const loop = async (run: number) => {
    await sampleAll();
    if (!stopped && run === runs) timer = opts.clock.setTimeout(() => void loop(run), every);
  };

  return {
    latest: (name) => samples.get(name) ?? null,
    sampleAll,
    start() {
      if (!stopped) return;
      stopped = false;
      void loop(++runs);
    },
    stop() {
      stopped = true;
      if (timer) opts.clock.clearTimeout(timer);
      timer = null;
    },
  };
}
