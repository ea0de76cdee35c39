import type { Logger } from '../log.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { rotateLogs } from './log-rotation.js';

export interface LogRotationOptions {
  /** Directories whose writers keep their files open with O_APPEND (caches): copy and truncate. */
  appendDirs: string[];
  /** Directories whose writer can reopen its files (nginx): rename, then reopen. */
  reopenDirs: string[];
  reopen: () => Promise<void>;
  clock: Clock;
  logger: Logger;
  maxBytes?: number;
  everyMs?: number;
}

/** Checks the log directories every minute and rotates files past 64 MiB. */
export function startLogRotation(opts: LogRotationOptions): { stop(): void } {
  let timer: TimerHandle | null = null;
  let stopped = false;
  const tick = async () => {
    try {
      const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
      const renamed = await rotateLogs(opts.reopenDirs, maxBytes, 'rename');
      if (renamed.length > 0) await opts.reopen();
      const rotated = [...renamed, ...(await rotateLogs(opts.appendDirs, maxBytes, 'copy-truncate'))];
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
