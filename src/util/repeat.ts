import type { Clock, TimerHandle } from './clock.js';

/** Runs `run` now and then again `intervalMs` after each run ends, until stopped; a run's failure is its own. */
export interface Repeating {
  start(): void;
  /** No new run starts; waits for one in progress. */
  stop(): Promise<void>;
}

export function createRepeating(opts: { clock: Clock; intervalMs: number; run: () => Promise<unknown> }): Repeating {
  let timer: TimerHandle | null = null;
  let stopped = true;
  let running: Promise<unknown> = Promise.resolve();
  const loop = async () => {
    running = opts.run().catch(() => undefined);
    await running;
    if (!stopped) timer = opts.clock.setTimeout(() => void loop(), opts.intervalMs);
  };
  return {
    start() {
      if (!stopped) return;
      stopped = false;
      void loop();
    },
    async stop() {
      stopped = true;
      if (timer) opts.clock.clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
