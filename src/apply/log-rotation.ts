import { copyFile, readdir, rename, stat, truncate } from 'node:fs/promises';
import path from 'node:path';

export type RotationStyle = 'copy-truncate' | 'rename';

/**
 * Keeps the log files under the given directories below maxBytes each, copy-and-truncate style:
 * children (registries, nginx) write with O_APPEND to files they opened themselves, so they keep
 * running — and serving — even when the daemon is gone, and need no signal to reopen. The copy
 * replaces `<file>.1`; lines written between copy and truncate are lost, which is the usual price.
 * With 'rename' the file is moved to `<file>.1` and the writer must be told to reopen (nginx: USR1);
 * nothing is lost and a tailer following by inode drains the old file first.
 */
export async function rotateLogs(dirs: string[], maxBytes: number, style: RotationStyle = 'copy-truncate'): Promise<string[]> {
  const rotated: string[] = [];
  for (const dir of dirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.log'))) {
      const file = path.join(dir, name);
      const info = await stat(file).catch(() => null);
      if (!info?.isFile() || info.size <= maxBytes) continue;
      if (style === 'rename') {
        await rename(file, `${file}.1`);
      } else {
        await copyFile(file, `${file}.1`);
        await truncate(file, 0);
      }
      rotated.push(file);
    }
  }
  return rotated;
}
