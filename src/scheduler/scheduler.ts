import type { Clock, TimerHandle } from '../util/clock.js';

export interface SchedulerOptions<R> {
  /** One pass; never runs concurrently with itself. */
  run: (reasons: string[]) => Promise<R>;
  clock: Clock;
  /** Quiet time after the last trigger before a pass starts: an editor's save (truncate + write, or write + rename) lands within a few ms. */
  debounceMs?: number;
  /** A pass starts at the latest this long after the first pending trigger, however busy the triggers. */
  maxWaitMs?: number;
  /** A pass happens at least this often even with no trigger (missed events, drift). 0 disables. */
  resyncMs?: number;
}

export interface Scheduler<R> {
  /** Asks for a pass; resolves with the result of the first pass that starts after this call. */
  trigger(reason: string, opts?: { immediate?: boolean }): Promise<R>;
  /**
   * Asks for a pass nobody waits for (file and runtime events, probes): never rejects, also not once
   * stopped. The pass reports its own outcome (state, events, log).
   */
  nudge(reason: string): void;
  start(): void;
  stop(): Promise<void>;
}

interface Waiter<R> {
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/** The one scheduler for every trigger: file events, API reloads, runtime events and periodic resync. */
export function createScheduler<R>(opts: SchedulerOptions<R>): Scheduler<R> {
  const debounceMs = opts.debounceMs ?? 25;
  const maxWaitMs = opts.maxWaitMs ?? 1000;
  const resyncMs = opts.resyncMs ?? 30_000;
  let pendingReasons: string[] = [];
  let waiters: Array<Waiter<R>> = [];
  let firstPendingAt: number | null = null;
  let debounceTimer: TimerHandle | null = null;
  let resyncTimer: TimerHandle | null = null;
  let running: Promise<void> | null = null;
  let stopped = true;

  const armResync = () => {
    if (resyncTimer) opts.clock.clearTimeout(resyncTimer);
    resyncTimer = null;
    // Nobody awaits a resync: a pass that throws must not become an unhandled rejection (which ends Node).
    if (!stopped && resyncMs > 0) resyncTimer = opts.clock.setTimeout(() => void schedule('resync', true).catch(() => undefined), resyncMs);
  };

  const runPass = async () => {
    const reasons = pendingReasons;
    const batch = waiters;
    pendingReasons = [];
    waiters = [];
    firstPendingAt = null;
    try {
      const result = await opts.run(reasons);
      batch.forEach((w) => w.resolve(result));
    } catch (err) {
      batch.forEach((w) => w.reject(err));
    }
  };

  const kick = () => {
    if (debounceTimer) opts.clock.clearTimeout(debounceTimer);
    debounceTimer = null;
    if (running || pendingReasons.length === 0 || stopped) return;
    running = runPass().finally(() => {
      running = null;
      armResync();
      // Triggers that arrived during the pass get their own pass.
      if (pendingReasons.length > 0 && !stopped) arm(0);
    });
  };

  const arm = (delay: number) => {
    if (debounceTimer) opts.clock.clearTimeout(debounceTimer);
    debounceTimer = opts.clock.setTimeout(kick, delay);
  };

  const schedule = (reason: string, immediate: boolean): Promise<R> => {
    const promise = new Promise<R>((resolve, reject) => waiters.push({ resolve, reject }));
    if (!pendingReasons.includes(reason)) pendingReasons.push(reason);
    const now = opts.clock.now();
    firstPendingAt ??= now;
    if (!running) {
      const waited = now - firstPendingAt;
      arm(immediate ? 0 : Math.max(0, Math.min(debounceMs, maxWaitMs - waited)));
    }
    return promise;
  };

  return {
    trigger: (reason, o) => {
      if (stopped) return Promise.reject(new Error('scheduler stopped'));
      return schedule(reason, o?.immediate ?? false);
    },
    nudge: (reason) => {
      // Nobody awaits a nudge: a pass that throws must not become an unhandled rejection (which ends Node).
      if (!stopped) void schedule(reason, false).catch(() => undefined);
    },
    start() {
      stopped = false;
      armResync();
    },
    async stop() {
      stopped = true;
      if (debounceTimer) opts.clock.clearTimeout(debounceTimer);
      if (resyncTimer) opts.clock.clearTimeout(resyncTimer);
      await running;
      const rejected = waiters;
      waiters = [];
      rejected.forEach((w) => w.reject(new Error('scheduler stopped')));
    },
  };
}
