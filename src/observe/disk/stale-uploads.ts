import { lstat, opendir, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Partial uploads distribution leaves behind when a fetch fails half-way (a stalled upstream, a full
 * disk): `<root>/docker/registry/v2/repositories/<repo>/_uploads/<id>/`. An upload nothing has written
 * to for `idleMs` is dead (fetches are abandoned after cache.stallTimeout without progress), so it is
 * removed; one still being written is left alone.
 */
export async function removeStaleUploads(
  roots: readonly string[],
  idleMs: number,
  now: number,
  maxEntries = 200_000,
): Promise<{ removed: number; bytes: number }> {
  let removed = 0;
  let bytes = 0;
  let entries = 0;
  for (const root of roots) {
    const stack = [path.join(root, 'docker', 'registry', 'v2', 'repositories')];
    while (stack.length > 0 && entries < maxEntries) {
      const dir = stack.pop()!;
      const children = await listDirs(dir);
      entries += children.length;
      for (const child of children) {
        const full = path.join(dir, child);
        if (child !== '_uploads') {
          // _layers and _manifests hold links only; repositories nest (library/app).
          if (child !== '_layers' && child !== '_manifests') stack.push(full);
          continue;
        }
        for (const upload of await listDirs(full)) {
          const uploadDir = path.join(full, upload);
          const { newest, size } = await newestWrite(uploadDir);
          if (now - newest < idleMs) continue;
          await rm(uploadDir, { recursive: true, force: true }).catch(() => undefined);
          removed++;
          bytes += size;
        }
      }
    }
  }
  return { removed, bytes };
}

async function listDirs(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const d of await opendir(dir, { bufferSize: 128 })) if (d.isDirectory()) names.push(d.name);
  } catch {
    // absent or removed meanwhile
  }
  return names;
}

/** Latest mtime and total size of the files under an upload directory (data, startedat, hashstates). */
async function newestWrite(dir: string): Promise<{ newest: number; size: number }> {
  let newest = (await lstat(dir).catch(() => null))?.mtimeMs ?? 0;
  let size = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    try {
      for await (const e of await opendir(d, { bufferSize: 64 })) {
        const full = path.join(d, e.name);
        const st = await lstat(full).catch(() => null);
        if (!st) continue;
        newest = Math.max(newest, st.mtimeMs);
        if (st.isDirectory()) stack.push(full);
        else size += st.size;
      }
    } catch {
      // removed meanwhile
    }
  }
  return { newest, size };
}

/** Removes the files directly in `dir` last written more than `ageMs` ago (the egress nginx's failed-fetch markers). */
export async function removeOldFiles(dir: string, ageMs: number, now: number): Promise<number> {
  let removed = 0;
  try {
    for await (const e of await opendir(dir, { bufferSize: 128 })) {
      if (!e.isFile()) continue;
      const full = path.join(dir, e.name);
      const st = await lstat(full).catch(() => null);
      if (
        st &&
        now - st.mtimeMs > ageMs &&
        (await rm(full, { force: true }).then(
          () => true,
          () => false,
        ))
      )
        removed++;
    }
  } catch {
    // not created yet
  }
  return removed;
}
