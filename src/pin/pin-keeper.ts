import { link, lstat, mkdir, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { registrySlug } from '../config/parse.js';
import type { Logger } from '../log.js';
import { blobDataPath } from '../observe/storage/filesystem-storage.js';
import type { Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { createRepeating } from '../util/repeat.js';

/** One pinned digest as the registry stores it: under a repository, as a manifest revision or a layer. */
export interface KeptEntry {
  digest: string;
  repository: string;
  kind: 'manifest' | 'blob';
}

export interface PinKeeper {
  /** One pass over every cache now. */
  keep(): Promise<{ kept: number; restored: number; released: number }>;
  /** Drops the kept copy of a digest (a purge), so the next pass does not put it back. */
  forget(cache: string, digest: string): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

const V2 = ['docker', 'registry', 'v2'];

/** The registry's files for a digest in a repository (distribution's filesystem layout); null for a digest it cannot store. Pure. */
export function registryPaths(root: string, e: KeptEntry): { data: string; link: string } | null {
  const data = blobDataPath(root, e.digest);
  if (data === null) return null;
  const hex = e.digest.slice('sha256:'.length);
  const kindDir = e.kind === 'manifest' ? ['_manifests', 'revisions'] : ['_layers'];
  return { data, link: path.join(root, ...V2, 'repositories', ...e.repository.split('/'), ...kindDir, 'sha256', hex, 'link') };
}

/**
 * Pinned content is exempt from distribution 2.8's proxy expiry, which regcache cannot switch off: the
 * registry schedules every blob and manifest it fetched upstream for deletion 7 days later (in-memory
 * timers, state in scheduler-state.json read only at its start) and then deletes the data file and the
 * repository's link. The keeper holds a hard link of each pinned data file under `keepDir/<cache>`, so
 * the bytes outlive that delete, and puts back the data file and the link when they are gone. The
 * registry keeps no blob descriptor cache (registry-config.ts), so restored files are served at once.
 */
export function createPinKeeper(deps: {
  caches: () => string[];
  entries: (cache: string) => KeptEntry[];
  storageRoot: (cache: string) => Promise<string | null>;
  keepDir: string;
  clock: Clock;
  logger: Logger;
  onRestored?: (cache: string, restored: number) => void;
  intervalMs?: number;
}): PinKeeper {
  const log = deps.logger.child({ component: 'pin-keeper' });
  const exists = (p: string) =>
    lstat(p).then(
      (s) => s,
      () => null,
    );
  let chain: Promise<unknown> = Promise.resolve();

  const keepCache = async (cache: string) => {
    const counts = { kept: 0, restored: 0, released: 0 };
    const root = await deps.storageRoot(cache).catch(() => null);
    if (!root) return counts;
    const dir = path.join(deps.keepDir, registrySlug(cache));
    await mkdir(dir, { recursive: true });
    const wanted = new Set<string>();
    for (const e of deps.entries(cache)) {
      const hex = e.digest.slice('sha256:'.length);
      const kept = path.join(dir, hex);
      wanted.add(hex);
      const paths = registryPaths(root, e);
      if (paths === null) continue;
      const { data, link: repoLink } = paths;
      try {
        const [dataStat, keptStat] = await Promise.all([exists(data), exists(kept)]);
        if (dataStat && (!keptStat || keptStat.ino !== dataStat.ino)) {
          // A new or re-fetched data file: keep a link to it (replacing a copy of an older file).
          const tmp = `${kept}.tmp`;
          await unlink(tmp).catch(() => undefined);
          await link(data, tmp);
          await rename(tmp, kept);
        } else if (!dataStat && keptStat) {
          await mkdir(path.dirname(data), { recursive: true });
          await link(kept, data);
          counts.restored++;
        } else if (!dataStat) continue; // not fetched yet: nothing to keep
        counts.kept++;
        if (!(await exists(repoLink))) {
          await mkdir(path.dirname(repoLink), { recursive: true });
          await writeFile(repoLink, e.digest);
          counts.restored++;
        }
      } catch (err) {
        log.warn({ vhost: cache, digest: e.digest, err: errorMessage(err) }, 'could not keep a pinned file');
      }
    }
    for (const name of await readdir(dir).catch(() => [])) {
      if (wanted.has(name)) continue;
      await unlink(path.join(dir, name)).catch(() => undefined);
      counts.released++;
    }
    if (counts.restored > 0) {
      log.info({ vhost: cache, restored: counts.restored }, 'restored pinned files deleted by the registry');
      deps.onRestored?.(cache, counts.restored);
    }
    return counts;
  };

  const keep = () => {
    const run = chain.then(async () => {
      const total = { kept: 0, restored: 0, released: 0 };
      for (const cache of deps.caches()) {
        const c = await keepCache(cache).catch((err) => {
          log.warn({ vhost: cache, err: errorMessage(err) }, 'pin keeper pass failed');
          return { kept: 0, restored: 0, released: 0 };
        });
        total.kept += c.kept;
        total.restored += c.restored;
        total.released += c.released;
      }
      return total;
    });
    chain = run.catch(() => undefined);
    return run;
  };

  const periodic = createRepeating({ clock: deps.clock, intervalMs: deps.intervalMs ?? 60_000, run: keep });
  return {
    keep,
    async forget(cache, digest) {
      // After any pass in flight, which might otherwise link the file again.
      await chain;
      await unlink(path.join(deps.keepDir, registrySlug(cache), digest.slice('sha256:'.length))).catch(() => undefined);
    },
    start: () => periodic.start(),
    async stop() {
      await periodic.stop();
      await chain;
    },
  };
}
