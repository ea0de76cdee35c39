import { lstat, rm, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';
import type { AccessLogEntry } from '../observe/access-log/access-log-entry.js';
import type { EgressLogEntry } from '../observe/access-log/egress-counters.js';
import type { EventLog } from '../state/event-log.js';
import { blobDataPath } from '../observe/storage/filesystem-storage.js';
import { isoTime, type Clock } from '../util/clock.js';
import { createRepeating } from '../util/repeat.js';
import { errorMessage } from '../util/errors.js';
import type { CacheLayers } from './cache-layers.js';
import { cachedBodySha256, type StopHashing } from './nginx-cache-file.js';

/** What a purge removed, layer by layer. */
export interface PurgeResult {
  vhost: string;
  digest: string;
  removed: { router: number; egress: number; storage: boolean };
  /** Storage regcache cannot reach (a runtime whose storage it cannot see): the registry keeps it. */
  storageReachable: boolean;
}

export interface IntegrityOptions {
  layers: CacheLayers;
  /** A cache's storage root (distribution's rootdirectory), null when regcache cannot reach it. */
  storageRoot: (vhost: string) => Promise<string | null>;
  events: Pick<EventLog, 'record'>;
  clock: Clock;
  logger: Logger;
  /** How long an egress entry stays after its registry committed the blob: lock waiters open it meanwhile. */
  settleMs?: number;
  /** An egress entry whose registry never committed the blob is dropped after this long. */
  giveUpMs?: number;
  tickMs?: number;
  /** A blob newly committed to a cache's storage (the disk bound may need enforcing). */
  onCommitted?: (vhost: string) => void;
  /** Hash of a cache entry's body (null: no such entry; 'stopped': `stop` said so); injectable for tests. */
  bodySha256?: (file: string, stop?: StopHashing) => Promise<string | 'stopped' | null>;
}

/**
 * Keeps unverified bytes out of regcache's caches. distribution verifies a blob before it commits it
 * to its storage (which the router serves blob hits from), so what is left to check is:
 * - the egress nginx's cache, which holds what the upstream sent, verified or not: each entry a cache
 *   fetched is hashed unless the registry committed that blob, dropped on a mismatch, and dropped
 *   anyway shortly after the registry committed it (one copy on disk, not two);
 * - the router's cache of manifests by digest, hashed after each store, dropped on a mismatch.
 * Both work from the access logs (fed in by the observer) and a short tick; a mismatch is counted,
 * logged, recorded as an event and shown as the vhost's lastError. It also notes blob reads as the
 * blob file's access time, which the storage bound evicts by (storage-bound.ts).
 */
export interface IntegrityService {
  routerEntry(entry: AccessLogEntry): void;
  egressEntry(entry: EgressLogEntry): void;
  /** Checks what is pending now (the tick does this on its own). */
  check(): Promise<void>;
  mismatches(vhost: string): number;
  lastError(vhost: string): string | null;
  purge(vhost: string, digest: string): Promise<PurgeResult>;
  start(): void;
  stop(): Promise<void>;
}

interface PendingEgress {
  vhost: string;
  digest: string;
  seenMs: number;
  committedMs: number | null;
  hashed: boolean;
}

/** nginx cache statuses of a response that was fetched and written into the cache. */
const STORED = new Set(['MISS', 'EXPIRED']);

export function createIntegrityService(opts: IntegrityOptions): IntegrityService {
  const log = opts.logger.child({ component: 'integrity' });
  const settleMs = opts.settleMs ?? 5_000;
  const giveUpMs = opts.giveUpMs ?? 120_000;
  const bodySha256 = opts.bodySha256 ?? cachedBodySha256;
  const pendingEgress = new Map<string, PendingEgress>();
  const routerChecks: Array<{ vhost: string; digest: string; variant: string }> = [];
  const counts = new Map<string, number>();
  const errors = new Map<string, { digest: string; message: string }>();
  const touched = new Map<string, number>();
  let stopped = true;
  let running: Promise<void> | null = null;

  const mismatch = (vhost: string, digest: string, layer: string, actual: string) => {
    counts.set(vhost, (counts.get(vhost) ?? 0) + 1);
    const message = `digest mismatch: the upstream sent content for ${digest} whose sha256 is ${actual}; the ${layer} dropped it and the next request fetches again`;
    errors.set(vhost, { digest, message: `${message} (${isoTime(opts.clock.now())})` });
    opts.events.record({ kind: 'integrity', level: 'error', vhost, message });
    log.error({ vhost, digest, actual, layer }, 'digest mismatch: dropped from the cache');
  };

  const remove = async (file: string | null): Promise<boolean> => {
    if (!file) return false;
    try {
      await unlink(file);
      return true;
    } catch {
      return false;
    }
  };

  const touch = async (vhost: string, digest: string) => {
    const key = `${vhost}|${digest}`;
    const now = opts.clock.now();
    if (now - (touched.get(key) ?? 0) < 1_000) return; // one utimes per blob per second at most
    const root = await opts.storageRoot(vhost).catch(() => null);
    const file = root ? blobDataPath(root, digest) : null;
    const mtime = file ? await statMtime(file) : null;
    if (!file || mtime === null) return; // not stored (yet): a miss being fetched
    // atime = last read; mtime stays the commit time (blob hit/miss accounting reads it).
    await utimes(file, now / 1000, mtime).then(
      () => {
        if (touched.size > 100_000) touched.clear();
        touched.set(key, now);
      },
      () => undefined,
    );
  };

  const committed = async (vhost: string, digest: string): Promise<boolean> => {
    const root = await opts.storageRoot(vhost).catch(() => null);
    const file = root ? blobDataPath(root, digest) : null;
    return file !== null && (await statMtime(file)) !== null;
  };

  const checkEgress = async (p: PendingEgress, now: number) => {
    const key = `${p.vhost}|${p.digest}`;
    const files = await opts.layers.egressFiles(p.vhost, p.digest);
    const removeAll = async () => {
      for (const file of files) await remove(file);
    };
    if (p.committedMs === null && (await committed(p.vhost, p.digest))) {
      p.committedMs = now;
      if (errors.get(p.vhost)?.digest === p.digest) errors.delete(p.vhost);
      opts.onCommitted?.(p.vhost);
    }
    if (p.committedMs !== null) {
      // Verified by distribution; the registry's storage is now the copy. Lock waiters have opened
      // the entry within nginx's 0.5 s poll by the time settleMs has passed.
      if (now - p.committedMs >= settleMs) {
        await removeAll();
        pendingEgress.delete(key);
      }
      return;
    }
    if (!p.hashed) {
      p.hashed = true;
      let hashedAny = false;
      for (const file of files) {
        // The registry may commit while this runs (it is copying the same entry): then distribution has
        // verified it, and hashing the rest of a multi-GiB layer would be wasted.
        const actual = await bodySha256(file, () => committed(p.vhost, p.digest));
        if (actual === 'stopped') {
          p.hashed = false; // the next pass sees the commit
          return;
        }
        if (actual === null) continue; // gone meanwhile (evicted, purged)
        hashedAny = true;
        if (`sha256:${actual}` !== p.digest) {
          await removeAll();
          pendingEgress.delete(key);
          mismatch(p.vhost, p.digest, 'egress cache', `sha256:${actual}`);
          return;
        }
      }
      if (!hashedAny) {
        pendingEgress.delete(key); // already gone (evicted, purged) or never stored
        return;
      }
    }
    if (now - p.seenMs >= giveUpMs) {
      // Right bytes, but the registry did not store them (its fetch was cut off): keep no copy here.
      await removeAll();
      pendingEgress.delete(key);
    }
  };

  const checkRouter = async (vhost: string, digest: string, variant: string) => {
    for (const file of [opts.layers.routerManifestFile(vhost, digest, variant)]) {
      const actual = await bodySha256(file);
      if (actual === null || actual === 'stopped') continue;
      if (`sha256:${actual}` === digest) {
        if (errors.get(vhost)?.digest === digest) errors.delete(vhost); // fetched again, right this time
        continue;
      }
      await remove(file);
      mismatch(vhost, digest, 'router cache', `sha256:${actual}`);
    }
  };

  const check = () => {
    if (running) return running;
    const pass = (async () => {
      await Promise.resolve(); // the pass is in `running` before any of it runs
      try {
        while (routerChecks.length > 0) {
          const { vhost, digest, variant } = routerChecks.shift()!;
          await checkRouter(vhost, digest, variant).catch((err) => log.warn({ vhost, digest, err: errorMessage(err) }, 'router cache check failed'));
        }
        const now = opts.clock.now();
        for (const p of [...pendingEgress.values()]) {
          await checkEgress(p, now).catch((err) =>
            log.warn({ vhost: p.vhost, digest: p.digest, err: errorMessage(err) }, 'egress cache check failed'),
          );
        }
      } finally {
        running = null;
      }
    })();
    running = pass;
    return pass;
  };

  const ticks = createRepeating({ clock: opts.clock, intervalMs: opts.tickMs ?? 250, run: check });

  return {
    routerEntry(entry) {
      if (entry.vhost === null || entry.digest === null || !entry.digest.startsWith('sha256:')) return;
      if (entry.status < 200 || entry.status >= 300) return;
      if (entry.kind === 'manifest' && entry.cacheStatus !== null && STORED.has(entry.cacheStatus)) {
        routerChecks.push({ vhost: entry.vhost, digest: entry.digest, variant: entry.digestVariant });
        if (!stopped) void check(); // now, not at the next tick: the entry is served meanwhile
      }
      if (entry.kind === 'blob' || entry.kind === 'manifest') void touch(entry.vhost, entry.digest);
    },
    egressEntry(entry) {
      if (entry.method !== 'GET' || entry.status !== 200 || !entry.digest?.startsWith('sha256:') || !STORED.has(entry.cache)) return;
      const key = `${entry.vhost}|${entry.digest}`;
      if (pendingEgress.has(key)) return;
      pendingEgress.set(key, { vhost: entry.vhost, digest: entry.digest, seenMs: opts.clock.now(), committedMs: null, hashed: false });
      if (!stopped) void check();
    },
    check,
    mismatches: (vhost) => counts.get(vhost) ?? 0,
    lastError: (vhost) => errors.get(vhost)?.message ?? null,
    async purge(vhost, digest) {
      let router = 0;
      for (const file of await opts.layers.routerFiles(vhost, digest)) if (await remove(file)) router++;
      let egress = 0;
      for (const file of await opts.layers.egressFiles(vhost, digest)) if (await remove(file)) egress++;
      pendingEgress.delete(`${vhost}|${digest}`);
      const root = await opts.storageRoot(vhost).catch(() => null);
      const data = root ? blobDataPath(root, digest) : null;
      let storage = false;
      if (data) {
        storage = (await statMtime(data)) !== null;
        // The blob's directory (data file and all); repository links stay and resolve to "unknown".
        await rm(path.dirname(data), { recursive: true, force: true });
      }
      if (errors.get(vhost)?.digest === digest) errors.delete(vhost);
      log.info({ vhost, digest, router, egress, storage }, 'purged');
      opts.events.record({
        kind: 'integrity',
        level: 'info',
        vhost,
        message: `purged ${digest} (router ${router}, egress ${egress}, storage ${storage ? 1 : 0})`,
      });
      return { vhost, digest, removed: { router, egress, storage }, storageReachable: data !== null };
    },
    start() {
      stopped = false;
      ticks.start();
    },
    async stop() {
      stopped = true;
      await ticks.stop();
      await running?.catch(() => undefined);
    },
  };
}

/** mtime in seconds, null when the file is absent. */
async function statMtime(file: string): Promise<number | null> {
  const s = await lstat(file).catch(() => null);
  return s ? s.mtimeMs / 1000 : null;
}
