import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';
import type { CacheStorageInspector, DiskUsage } from './cache-storage.js';

export interface FilesystemStorageOptions {
  /** Storage root directory of a cache (distribution's filesystem rootdirectory), null if unknown. */
  storageDir: (name: string) => string | null | Promise<string | null>;
  /** A walk stops after this many entries and reports a partial result. Default 500 000. */
  maxEntries?: number;
}

const SUPPORTED_DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** distribution's filesystem layout: <root>/docker/registry/v2/blobs/<alg>/<first two hex>/<hex>/data */
export function blobDataPath(root: string, digest: string): string | null {
  if (!SUPPORTED_DIGEST.test(digest)) return null;
  const [alg, hex] = digest.split(':') as [string, string];
  return path.join(root, 'docker', 'registry', 'v2', 'blobs', alg, hex.slice(0, 2), hex, 'data');
}

/** du-like walk: allocated blocks (not apparent size), no symlinks followed, bounded entry count. */
export async function walkDiskUsage(root: string, maxEntries: number): Promise<DiskUsage | null> {
  let bytes = 0;
  let files = 0;
  let entries = 0;
  const rootStat = await lstat(root).catch(() => null);
  if (!rootStat?.isDirectory()) return null;
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let handle;
    try {
      handle = await opendir(dir, { bufferSize: 256 });
    } catch {
      continue; // vanished meanwhile (the registry deletes uploads and expired blobs)
    }
    for await (const dirent of handle) {
      if (++entries > maxEntries) {
        await handle.close().catch(() => undefined);
        return { bytes, files, partial: true };
      }
      const full = path.join(dir, dirent.name);
      if (dirent.isDirectory()) {
        stack.push(full);
        continue;
      }
      const s = await lstat(full).catch(() => null);
      if (!s) continue;
      bytes += s.blocks * 512;
      files++;
    }
  }
  return { bytes, files, partial: false };
}

/**
 * Storage as plain directories: the process runtime's dataDir/caches/<slug>, or a Docker volume's
 * mountpoint when the daemon runs on the Docker host (see volume-storage.ts).
 */
export function createFilesystemStorageInspector(opts: FilesystemStorageOptions): CacheStorageInspector {
  const maxEntries = opts.maxEntries ?? 500_000;
  return {
    async diskUsage(name) {
      const root = await opts.storageDir(name);
      return root ? walkDiskUsage(root, maxEntries) : null;
    },
    async blobStoredAt(name, digest) {
      const root = await opts.storageDir(name);
      const file = root ? blobDataPath(root, digest) : null;
      if (!file) return undefined;
      const s = await lstat(file).catch(() => null);
      return s ? s.mtimeMs : null;
    },
  };
}
