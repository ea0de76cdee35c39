import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Where nginx keeps the entry of `key` in a proxy_cache_path with `levels=1:2` (the layout every
 * regcache zone uses): <zone>/<last hex digit>/<two digits before it>/<md5 of the key>.
 */
export function nginxCacheFile(zoneDir: string, key: string): string {
  const md5 = createHash('md5').update(key).digest('hex');
  return path.join(zoneDir, md5.slice(-1), md5.slice(-3, -1), md5);
}

/** The key an nginx cache entry was stored under (its `KEY:` line), null when the file has none. */
export async function cacheFileKey(file: string): Promise<string | null> {
  try {
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(4096);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      const head = buf.subarray(0, bytesRead);
      const at = head.indexOf('\nKEY: ');
      const end = at === -1 ? -1 : head.indexOf('\n', at + 6);
      return end === -1 ? null : head.subarray(at + 6, end).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
}

/** The entries of a `levels=1:2` zone whose key passes `match`: reads every entry's header (purge, not the request path). */
export async function cacheFilesWithKey(zoneDir: string, match: (key: string) => boolean): Promise<string[]> {
  const found: string[] = [];
  const entries = async (dir: string) => readdir(dir).catch(() => [] as string[]);
  for (const a of await entries(zoneDir)) {
    if (!/^[0-9a-f]$/.test(a)) continue;
    for (const b of await entries(path.join(zoneDir, a))) {
      if (!/^[0-9a-f]{2}$/.test(b)) continue;
      for (const name of await entries(path.join(zoneDir, a, b))) {
        if (!/^[0-9a-f]{32}$/.test(name)) continue;
        const file = path.join(zoneDir, a, b, name);
        const key = await cacheFileKey(file);
        if (key !== null && match(key)) found.push(file);
      }
    }
  }
  return found;
}

/**
 * Offset of the response body in an nginx cache file: after nginx's binary header, the `KEY:` line
 * and the upstream's status line and headers (ending with an empty line). null when the file does
 * not look like a complete cache entry.
 */
export function cacheBodyOffset(head: Buffer): number | null {
  const keyAt = head.indexOf('\nKEY: ');
  if (keyAt === -1) return null;
  const end = head.indexOf('\r\n\r\n', keyAt);
  return end === -1 ? null : end + 4;
}

/** Asked every STOP_CHECK_BYTES while hashing: true abandons the hash (its answer is no longer needed). */
export type StopHashing = () => Promise<boolean>;

const STOP_CHECK_BYTES = 32 << 20;

/** The sha256 (hex) of a file from `offset` to its end, streamed; 'stopped' when `stop` said so. */
export function sha256OfFile(file: string, offset = 0, stop?: StopHashing): Promise<string | 'stopped'> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const stream = createReadStream(file, { start: offset, highWaterMark: 1 << 20 });
    let sinceCheck = 0;
    stream
      .on('data', (chunk) => {
        hash.update(chunk);
        sinceCheck += chunk.length;
        if (!stop || sinceCheck < STOP_CHECK_BYTES) return;
        sinceCheck = 0;
        stream.pause();
        stop().then(
          (yes) => {
            if (!yes) return void stream.resume();
            stream.destroy();
            resolve('stopped');
          },
          () => stream.resume(),
        );
      })
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * The sha256 of the body of an nginx cache entry; null when there is no such file (evicted, purged,
 * never stored) or it is not a complete entry.
 */
export async function cachedBodySha256(file: string, stop?: StopHashing): Promise<string | 'stopped' | null> {
  let head: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
  const offset = cacheBodyOffset(head);
  if (offset === null) return null;
  return sha256OfFile(file, offset, stop).catch(() => null);
}
