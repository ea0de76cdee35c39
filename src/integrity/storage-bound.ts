import { lstat, opendir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';
import { walkDiskUsage } from '../observe/storage/filesystem-storage.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { createRepeating } from '../util/repeat.js';
import { errorMessage } from '../util/errors.js';

export interface StoredBlob {
  digest: string;
  /** Directory holding the blob's data file. */
  dir: string;
  /** Allocated bytes. */
  bytes: number;
  /** Last read (atime, set from the router's access log) or commit, whichever is later; ms. */
  lastUseMs: number;
}

/**
 * Least recently used first, until `used` is at or below `target`. Pure: which blobs to delete.
 * Blobs used within `protectMs` of `now` stay (a pull in progress reads them next); pinned blobs
 * (src/pin/) are never picked, even when what is left stays over the target.
 */
export function pickEvictions(
  blobs: StoredBlob[],
  used: number,
  target: number,
  now: number,
  protectMs: number,
  pinned: ReadonlySet<string> = new Set(),
): StoredBlob[] {
  if (used <= target) return [];
  const picked: StoredBlob[] = [];
  for (const b of [...blobs].sort((x, y) => x.lastUseMs - y.lastUseMs)) {
    if (used <= target) break;
    if (now - b.lastUseMs < protectMs) break;
    if (pinned.has(b.digest)) continue;
    picked.push(b);
    used -= b.bytes;
  }
  return picked;
}

/** Bytes of the stored blobs that are pinned. Pure. */
export function pinnedBytes(blobs: StoredBlob[], pinned: ReadonlySet<string>): number {
  return blobs.reduce((n, b) => (pinned.has(b.digest) ? n + b.bytes : n), 0);
}

/** Every blob in a distribution filesystem storage root (blobs/sha256/<2>/<hex>/data), bounded. */
export async function listStoredBlobs(root: string, maxEntries = 1_000_000): Promise<StoredBlob[]> {
  const base = path.join(root, 'docker', 'registry', 'v2', 'blobs', 'sha256');
  const blobs: StoredBlob[] = [];
  let entries = 0;
  const prefixes = await opendir(base).catch(() => null);
  if (!prefixes) return blobs;
  for await (const prefix of prefixes) {
    if (!prefix.isDirectory()) continue;
    const dir = await opendir(path.join(base, prefix.name)).catch(() => null);
    if (!dir) continue;
    for await (const hex of dir) {
      if (++entries > maxEntries) return blobs;
      const blobDir = path.join(base, prefix.name, hex.name);
      const s = await lstat(path.join(blobDir, 'data')).catch(() => null);
      if (!s) continue;
      blobs.push({ digest: `sha256:${hex.name}`, dir: blobDir, bytes: s.blocks * 512, lastUseMs: Math.max(s.atimeMs, s.mtimeMs) });
    }
  }
  return blobs;
}

export interface StorageBoundOptions {
  /** Registries and their cache.maxSize. */
  registries: () => Array<{ name: string; maxSizeBytes: number }>;
  /** A cache's storage root, null when regcache cannot reach it. */
  storageRoot: (name: string) => Promise<string | null>;
  /** The router's cache directory of a registry (its size counts too). */
  routerZone: (name: string) => string;
  clock: Clock;
  logger: Logger;
  onEvicted?: (name: string, blobs: StoredBlob[]) => void;
  /** Digests of a registry that must never be evicted (pinned images); none when absent. */
  pinned?: (name: string) => ReadonlySet<string>;
  /** Pinned content alone is over maxSize (true) or no longer (false): reported on each change. */
  onPinnedOverBound?: (name: string, over: boolean, pinnedBytes: number, maxSizeBytes: number) => void;
  /** Full check interval (60 s); `soon()` checks one registry after a commit. */
  intervalMs?: number;
  /** Evict down to this share of maxSize, so one new blob does not trigger a walk each time. */
  lowWater?: number;
  /** Blobs read within this long are kept even over the bound (default 0: strict LRU). */
  protectMs?: number;
}

/**
 * cache.maxSize bounds all the disk a registry uses: its registry storage plus the router's cache
 * of manifests and tags. nginx bounds its own cache; this evicts least recently used blobs from the
 * registry's storage when the sum goes over. The registry keeps no blob descriptor cache
 * (registry-config.ts), so a deleted blob is fetched again on its next pull.
 */
export interface StorageBound {
  /** Checks one registry shortly (debounced), e.g. after it committed a blob. */
  soon(name: string): void;
  /** Checks every registry now. */
  enforce(): Promise<void>;
  /** Registries whose pinned content alone is over maxSize, with its stored bytes (as of their last check over the bound). */
  pinnedOver(): ReadonlyMap<string, number>;
  start(): void;
  stop(): Promise<void>;
}

export function createStorageBound(opts: StorageBoundOptions): StorageBound {
  const log = opts.logger.child({ component: 'storage-bound' });
  const lowWater = opts.lowWater ?? 0.9;
  const protectMs = opts.protectMs ?? 0;
  const due = new Set<string>();
  let soonTimer: TimerHandle | null = null;
  let lastSoon = Number.NEGATIVE_INFINITY;
  let stopped = true;
  let chain: Promise<void> = Promise.resolve();
  const pinnedOver = new Map<string, number>();
  const setPinnedOver = (name: string, bytes: number | null, maxSizeBytes: number) => {
    const was = pinnedOver.has(name);
    if (bytes === null) pinnedOver.delete(name);
    else pinnedOver.set(name, bytes);
    if (was !== (bytes !== null)) opts.onPinnedOverBound?.(name, bytes !== null, bytes ?? 0, maxSizeBytes);
  };

  const enforceOne = async (name: string, maxSizeBytes: number) => {
    const root = await opts.storageRoot(name).catch(() => null);
    if (!root) return;
    const storage = await walkDiskUsage(root, 1_000_000);
    const zone = await walkDiskUsage(opts.routerZone(name), 1_000_000);
    const used = (storage?.bytes ?? 0) + (zone?.bytes ?? 0);
    if (used <= maxSizeBytes) {
      setPinnedOver(name, null, maxSizeBytes);
      return;
    }
    const blobs = await listStoredBlobs(root);
    const pinned = opts.pinned?.(name) ?? new Set<string>();
    const held = pinnedBytes(blobs, pinned);
    if (held > maxSizeBytes) log.warn({ vhost: name, pinnedBytes: held, maxSizeBytes }, 'pinned images alone are over cache.maxSize: they are kept');
    setPinnedOver(name, held > maxSizeBytes ? held : null, maxSizeBytes);
    const picked = pickEvictions(blobs, used, Math.floor(maxSizeBytes * lowWater), opts.clock.now(), protectMs, pinned);
    for (const b of picked) await rm(b.dir, { recursive: true, force: true });
    const freed = picked.reduce((sum, b) => sum + b.bytes, 0);
    if (picked.length > 0) {
      log.info(
        { vhost: name, used, maxSizeBytes, evicted: picked.length, freed, digests: picked.slice(0, 100).map((b) => b.digest) },
        'cache over maxSize: evicted least recently used blobs',
      );
      opts.onEvicted?.(name, picked);
    }
  };

  const run = (names: Set<string> | null) => {
    chain = chain.then(async () => {
      for (const r of opts.registries()) {
        if (names && !names.has(r.name)) continue;
        await enforceOne(r.name, r.maxSizeBytes).catch((err) => log.warn({ vhost: r.name, err: errorMessage(err) }, 'storage bound check failed'));
      }
    });
    return chain;
  };

  const periodic = createRepeating({ clock: opts.clock, intervalMs: opts.intervalMs ?? 60_000, run: () => run(null) });

  return {
    soon(name) {
      due.add(name);
      if (soonTimer || stopped) return;
      // 1 s after the first commit, and at most every 10 s: a walk of a large storage is not free.
      const delay = Math.max(1_000, lastSoon + 10_000 - opts.clock.now());
      soonTimer = opts.clock.setTimeout(() => {
        soonTimer = null;
        lastSoon = opts.clock.now();
        const names = new Set(due);
        due.clear();
        void run(names);
      }, delay);
    },
    enforce: () => run(null),
    pinnedOver: () => pinnedOver,
    start() {
      stopped = false;
      periodic.start();
    },
    async stop() {
      stopped = true;
      if (soonTimer) opts.clock.clearTimeout(soonTimer);
      await periodic.stop();
      await chain.catch(() => undefined);
    },
  };
}
