// A registry's filesystem storage, as the storage bound and the pin keeper read it.
import { mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { blobDataPath } from '../../src/observe/storage/filesystem-storage.js';

/** Writes a blob's data file of `bytes` bytes under `root`, last used (atime and mtime) at `lastUse`. */
export async function writeStoredBlob(root: string, digest: string, bytes: number, lastUse: Date): Promise<string> {
  const file = blobDataPath(root, digest)!;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, Buffer.alloc(bytes, 1));
  await utimes(file, lastUse, lastUse);
  return file;
}

export const exists = (file: string): Promise<boolean> =>
  stat(file).then(
    () => true,
    () => false,
  );
