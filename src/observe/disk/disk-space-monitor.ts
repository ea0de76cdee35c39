import { minFreeBytes, type FreeSpace } from '../../config/sections/cache.js';
import type { Logger } from '../../log.js';
import { isoTime, type Clock, type TimerHandle } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import type { EventLog } from '../../state/event-log.js';
import { formatBytes } from '../../util/format.js';

/** Free space under dataDir as last measured. */
export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
  /** cache.minFreeSpace in bytes for this file system. */
  minFreeBytes: number;
  /** Below the floor: vhosts show degraded and the router refuses digests it does not hold. */
  low: boolean;
  checkedAt: string;
}

export interface DiskSpaceMonitor {
  /** The last measurement; null before the first. */
  current(): DiskSpace | null;
  /** Why cold pulls are refused, or null while there is room. */
  lowMessage(): string | null;
  /** Measure now (and clean up stale uploads when short of space). */
  check(): Promise<DiskSpace | null>;
  start(): void;
  stop(): void;
}

export interface DiskSpaceMonitorDeps {
  /** Free and total bytes of the file system holding dataDir (statfs). */
  measure: () => Promise<{ freeBytes: number; totalBytes: number }>;
  /** cache.minFreeSpace of the config in force. */
  floor: () => FreeSpace;
  /** Removes partial uploads nothing writes to any more; bytes freed. */
  cleanUploads: () => Promise<{ removed: number; bytes: number }>;
  /** Called when space drops below the floor or comes back (the router's config depends on it). */
  onChange: (low: boolean) => void;
  events: EventLog;
  clock: Clock;
  logger: Logger;
  /** How often free space is measured (5 s). */
  intervalMs?: number;
  /** Stale uploads are removed at the first check, on every drop below the floor and this often (60 s). */
  cleanupEveryMs?: number;
}

/** Space back above the floor by this share before vhosts count as healthy again, so a full disk does not flap. */
const RECOVERY_MARGIN = 0.05;

export function createDiskSpaceMonitor(deps: DiskSpaceMonitorDeps): DiskSpaceMonitor {
  const log = deps.logger.child({ component: 'disk-space' });
  const every = deps.intervalMs ?? 5000;
  const cleanupEvery = deps.cleanupEveryMs ?? 60_000;
  let last: DiskSpace | null = null;
  let lastCleanup: number | null = null;
  let timer: TimerHandle | null = null;
  let stopped = true;

  const cleanup = async () => {
    lastCleanup = deps.clock.now();
    const { removed, bytes } = await deps.cleanUploads().catch((err: unknown) => {
      log.warn({ err: errorMessage(err) }, 'could not clean partial uploads');
      return { removed: 0, bytes: 0 };
    });
    if (removed > 0) {
      log.info({ removed, bytes }, 'removed abandoned partial uploads');
      deps.events.record({
        kind: 'runtime',
        level: 'info',
        vhost: null,
        message: `removed ${removed} abandoned partial upload(s), ${formatBytes(bytes)}`,
      });
    }
    return removed;
  };

  const measure = async (): Promise<DiskSpace | null> => {
    const m = await deps.measure().catch((err: unknown) => {
      log.warn({ err: errorMessage(err) }, 'could not measure free space under dataDir');
      return null;
    });
    if (!m) return null;
    const floor = minFreeBytes(deps.floor(), m.totalBytes);
    const wasLow = last?.low ?? false;
    const low = wasLow ? m.freeBytes < floor * (1 + RECOVERY_MARGIN) : m.freeBytes < floor;
    return { freeBytes: m.freeBytes, totalBytes: m.totalBytes, minFreeBytes: floor, low, checkedAt: isoTime(deps.clock.now()) };
  };

  const check = async () => {
    const first = lastCleanup === null;
    let next = await measure();
    if (!next) return last;
    // Short of space: abandoned uploads are the first thing to go; measure again after.
    const due = first || (next.low && !last?.low) || deps.clock.now() - (lastCleanup ?? 0) >= cleanupEvery;
    if (due && (await cleanup()) > 0) next = (await measure()) ?? next;
    const before = last?.low ?? false;
    last = next;
    if (next.low !== before) {
      const message = next.low ? lowText(next) : `free space under dataDir back to ${formatBytes(next.freeBytes)}: pulls of uncached content resume`;
      if (next.low) log.error({ freeBytes: next.freeBytes, minFreeBytes: next.minFreeBytes }, message);
      else log.info({ freeBytes: next.freeBytes }, message);
      deps.events.record({ kind: 'probe', level: next.low ? 'error' : 'info', vhost: null, message });
      deps.onChange(next.low);
    }
    return last;
  };

  return {
    current: () => last,
    lowMessage: () => (last?.low ? lowText(last) : null),
    check,
    start() {
      stopped = false;
      const loop = async () => {
        await check().catch(() => undefined);
        if (!stopped) timer = deps.clock.setTimeout(() => void loop(), every);
      };
      timer = deps.clock.setTimeout(() => void loop(), every);
    },
    stop() {
      stopped = true;
      if (timer) deps.clock.clearTimeout(timer);
    },
  };
}

function lowText(d: DiskSpace): string {
  return `disk almost full: ${formatBytes(d.freeBytes)} free under dataDir, below cache.minFreeSpace (${formatBytes(d.minFreeBytes)}); pulls of content not yet cached are refused`;
}
