import type { Logger } from '../log.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { rotateLogs } from './log-rotation.js';

/** Checks the log directories every minute and rotates files past 64 MiB. */
export function startLogRotation(opts: { dirs: string[]; clock: Clock; logger: Logger; maxBytes?: number; everyMs?: number }): { stop(): void } {
  let timer: TimerHandle | null = null;
  let stopped = false;
  const tick = async () => {
    try {
      const rotated = await rotateLogs(opts.dirs, opts.maxBytes ?? 64 * 1024 * 1024);
      if (rotated.length > 0) opts.logger.info({ rotated }, 'rotated log files');
    } catch (err) {
      opts.logger.warn({ err: (err as Error).message }, 'log rotation failed');
    }
    if (!stopped) timer = opts.clock.setTimeout(() => void tick(), opts.everyMs ?? 60_000);
  };
  timer = opts.clock.setTimeout(() => void tick(), opts.everyMs ?? 60_000);
  return {
    stop() {
      stopped = true;
      if (timer) opts.clock.clearTimeout(timer);
    },
  };
}
