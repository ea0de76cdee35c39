import { copyFile, readdir, stat, truncate } from 'node:fs/promises';
import path from 'node:path';

/**
 * Keeps the log files under the given directories below maxBytes each, copy-and-truncate style:
 * children (registries, nginx) write with O_APPEND to files they opened themselves, so they keep
 * running — and serving — even when the daemon is gone, and need no signal to reopen. The copy
 * replaces `<file>.1`; lines written between copy and truncate are lost, which is the usual price.
 */
export async function rotateLogs(dirs: string[], maxBytes: number): Promise<string[]> {
  const rotated: string[] = [];
  for (const dir of dirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.log'))) {
      const file = path.join(dir, name);
      const info = await stat(file).catch(() => null);
      if (!info?.isFile() || info.size <= maxBytes) continue;
      await copyFile(file, `${file}.1`);
      await truncate(file, 0);
      rotated.push(file);
    }
  }
  return rotated;
}
