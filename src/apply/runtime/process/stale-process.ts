import { readFile, unlink } from 'node:fs/promises';

/**
 * Kills a process left behind by an earlier daemon that died without cleaning up (kill -9),
 * identified by its pid file and a marker in its command line so an unrelated process
 * that reused the pid is never touched.
 */
export async function reapStaleProcess(pidFile: string, marker: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, 'utf8')).trim());
  } catch {
    return false;
  }
  await unlink(pidFile).catch(() => undefined);
  if (!Number.isInteger(pid) || pid <= 1) return false;
  let cmdline: string;
  try {
    cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
  } catch {
    return false;
  }
  if (!cmdline.includes(marker)) return false;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return false;
  }
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 20));
    } catch {
      break;
    }
  }
  return true;
}
