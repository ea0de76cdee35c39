import { open, stat } from 'node:fs/promises';
import type { Clock } from '../../util/clock.js';

export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
}

/** An open file the tailer reads by position. */
export interface TailHandle {
  stat(): Promise<FileIdentity>;
  read(buffer: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

/** The file system as the tailer needs it; tests may pass their own. */
export interface TailFs {
  /** Identity of whatever is at `path` now, null when nothing is. */
  stat(path: string): Promise<FileIdentity | null>;
  open(path: string): Promise<TailHandle | null>;
}

export const nodeTailFs: TailFs = {
  async stat(path) {
    try {
      const s = await stat(path);
      return { dev: s.dev, ino: s.ino, size: s.size };
    } catch {
      return null;
    }
  },
  async open(path) {
    try {
      const fh = await open(path, 'r');
      return {
        async stat() {
          const s = await fh.stat();
          return { dev: s.dev, ino: s.ino, size: s.size };
        },
        async read(buffer, position) {
          return (await fh.read(buffer, 0, buffer.length, position)).bytesRead;
        },
        close: () => fh.close(),
      };
    } catch {
      return null;
    }
  },
};

export interface FileTailerOptions {
  path: string;
  /** Complete lines, in file order; awaited before the next chunk is read. */
  onLines: (lines: string[]) => void | Promise<void>;
  clock: Clock;
  fs?: TailFs;
  /** A file present at the first poll is followed from its end (history is not replayed). Default true. */
  startAtEnd?: boolean;
  /** Longer lines are dropped (and counted), so one runaway line cannot grow memory. Default 64 KiB. */
  maxLineBytes?: number;
  /** Read buffer size. Default 64 KiB. */
  chunkBytes?: number;
  /** A rotated-away file is still read this long, for lines nginx writes before it reopens. Default 10 s. */
  rotatedGraceMs?: number;
}

export interface FileTailerStats {
  path: string;
  following: boolean;
  offset: number;
  rotations: number;
  truncations: number;
  droppedLines: number;
}

export interface FileTailer {
  /** Reads everything appended since the last poll. Calls are serialised. */
  poll(): Promise<void>;
  stats(): FileTailerStats;
  close(): Promise<void>;
}

interface Followed {
  handle: TailHandle;
  dev: number;
  ino: number;
  offset: number;
  partial: Buffer[];
  partialBytes: number;
  /** Inside an over-long line: discard up to the next newline. */
  skipping: boolean;
}

/**
 * Follows a log file the way `tail -F` does, by identity (dev+inode) and size rather than by name:
 * - rename + recreate (logrotate `create`, nginx reopen on USR1): the old file is drained, read for a
 *   short grace period more, then the new file is followed from its start;
 * - truncation in place (logrotate `copytruncate`): reading restarts at 0 (lines written between the
 *   last poll and the truncation are lost, as with any copytruncate reader);
 * - the file missing: waits for it to appear, then reads it from the start.
 * Memory is bounded by one read buffer plus one partial line of at most maxLineBytes.
 */
export function createFileTailer(opts: FileTailerOptions): FileTailer {
  const fs = opts.fs ?? nodeTailFs;
  const maxLineBytes = opts.maxLineBytes ?? 64 * 1024;
  const buffer = Buffer.alloc(opts.chunkBytes ?? 64 * 1024);
  const graceMs = opts.rotatedGraceMs ?? 10_000;
  let current: Followed | null = null;
  let rotated: { file: Followed; until: number } | null = null;
  let firstPoll = true;
  let closed = false;
  let queue: Promise<void> = Promise.resolve();
  const stats = { rotations: 0, truncations: 0, droppedLines: 0 };

  const follow = async (fromEnd: boolean): Promise<Followed | null> => {
    const handle = await fs.open(opts.path);
    if (!handle) return null;
    const id = await handle.stat();
    return { handle, dev: id.dev, ino: id.ino, offset: fromEnd ? id.size : 0, partial: [], partialBytes: 0, skipping: false };
  };

  const resetPartial = (f: Followed) => {
    f.partial = [];
    f.partialBytes = 0;
  };

  const split = (f: Followed, chunk: Buffer): string[] => {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) {
        const rest = chunk.subarray(start);
        if (f.skipping || rest.length === 0) break;
        if (f.partialBytes + rest.length > maxLineBytes) {
          stats.droppedLines++;
          resetPartial(f);
          f.skipping = true;
        } else {
          // Copy: the read buffer is reused.
          f.partial.push(Buffer.from(rest));
          f.partialBytes += rest.length;
        }
        break;
      }
      const segment = chunk.subarray(start, nl);
      if (f.skipping) {
        f.skipping = false;
      } else if (f.partialBytes + segment.length > maxLineBytes) {
        stats.droppedLines++;
      } else {
        const line = (f.partialBytes > 0 ? Buffer.concat([...f.partial, segment]) : segment).toString('utf8');
        if (line.length > 0) lines.push(line);
      }
      resetPartial(f);
      start = nl + 1;
    }
    return lines;
  };

  const drain = async (f: Followed) => {
    const { size } = await f.handle.stat();
    if (size < f.offset) {
      stats.truncations++;
      f.offset = 0;
      resetPartial(f);
      f.skipping = false;
    }
    while (f.offset < size) {
      const n = await f.handle.read(buffer, f.offset);
      if (n <= 0) break;
      f.offset += n;
      const lines = split(f, buffer.subarray(0, n));
      if (lines.length > 0) await opts.onLines(lines);
    }
  };

  const retire = async () => {
    if (!rotated) return;
    await drain(rotated.file).catch(() => undefined);
    await rotated.file.handle.close().catch(() => undefined);
    rotated = null;
  };

  const pollOnce = async () => {
    if (closed) return;
    const now = opts.clock.now();
    const atPath = await fs.stat(opts.path);
    if (!current) {
      if (atPath) current = await follow(firstPoll && (opts.startAtEnd ?? true));
      firstPoll = false;
    } else if (atPath && (atPath.ino !== current.ino || atPath.dev !== current.dev)) {
      // Rotated: finish the old file first so lines stay in order, then switch.
      await drain(current);
      await retire();
      rotated = { file: current, until: now + graceMs };
      stats.rotations++;
      current = await follow(false);
    }
    // With nothing at the path (renamed away, not recreated yet) the open file is still read.
    if (rotated) {
      if (now >= rotated.until) await retire();
      else await drain(rotated.file);
    }
    if (current) await drain(current);
  };

  return {
    poll() {
      queue = queue.then(pollOnce, pollOnce);
      return queue;
    },
    stats() {
      return { path: opts.path, following: current !== null, offset: current?.offset ?? 0, ...stats };
    },
    async close() {
      closed = true;
      await queue.catch(() => undefined);
      await retire();
      await current?.handle.close().catch(() => undefined);
      current = null;
    },
  };
}
