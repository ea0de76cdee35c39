import type { WarmConfig, WarmEntry } from '../config/sections/warm.js';
import type { Logger } from '../log.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { WarmJobs } from './warm-jobs.js';

/** What to warm now and when to look again. Pure: entries, when each last ran, the time. */
export function planWarm(
  entries: readonly WarmEntry[],
  lastRun: ReadonlyMap<string, number>,
  nowMs: number,
): { due: WarmEntry[]; nextAtMs: number | null } {
  const due: WarmEntry[] = [];
  let nextAtMs: number | null = null;
  for (const entry of entries) {
    const last = lastRun.get(warmEntryKey(entry));
    // New entries run now; entries without an interval run once.
    const at = last === undefined ? nowMs : entry.everySeconds === null ? null : last + entry.everySeconds * 1000;
    if (at === null) continue;
    if (at <= nowMs) {
      due.push(entry);
      if (entry.everySeconds !== null) nextAtMs = Math.min(nextAtMs ?? Infinity, nowMs + entry.everySeconds * 1000);
    } else nextAtMs = Math.min(nextAtMs ?? Infinity, at);
  }
  return { due, nextAtMs };
}

/** An entry is the same entry while image, platforms, interval and pin are (pinning an entry runs it now). */
export function warmEntryKey(e: WarmEntry): string {
  return JSON.stringify(e.pin ? [e.image, e.platforms, e.everySeconds, 'pin'] : [e.image, e.platforms, e.everySeconds]);
}

export interface WarmSchedule {
  /** The applied config's warm list; call after every apply. New entries run at once. */
  update(warm: WarmConfig): void;
  start(): void;
  stop(): void;
}

/**
 * Runs the config's warm list: once at start (and when an entry appears), then every `every`. One
 * timer on the daemon's clock, re-armed for the nearest due entry; the work itself goes to WarmJobs,
 * whose queue runs one job at a time, so a slow warm never overlaps the next run of itself.
 */
export function createWarmSchedule(deps: { jobs: WarmJobs; clock: Clock; logger: Logger }): WarmSchedule {
  let entries: WarmEntry[] = [];
  let defaults: string[] | null = null;
  const lastRun = new Map<string, number>();
  let timer: TimerHandle | null = null;
  let running = false;

  const tick = () => {
    if (timer) deps.clock.clearTimeout(timer);
    timer = null;
    if (!running) return;
    const now = deps.clock.now();
    const { due, nextAtMs } = planWarm(entries, lastRun, now);
    for (const entry of due) {
      lastRun.set(warmEntryKey(entry), now);
      const started = deps.jobs.start({ images: [entry.image], platforms: entry.platforms ?? defaults, pin: entry.pin }, 'config');
      if ('problems' in started) deps.logger.warn({ image: entry.image, problems: started.problems }, 'warm entry not started');
    }
    if (nextAtMs !== null) timer = deps.clock.setTimeout(tick, Math.max(0, nextAtMs - now));
  };

  return {
    update(warm) {
      entries = warm.entries;
      defaults = warm.platforms;
      const keys = new Set(entries.map(warmEntryKey));
      for (const key of lastRun.keys()) if (!keys.has(key)) lastRun.delete(key);
      tick();
    },
    start() {
      running = true;
      tick();
    },
    stop() {
      running = false;
      if (timer) deps.clock.clearTimeout(timer);
      timer = null;
    },
  };
}
