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
  // Supervised children lead their own process group: kill the group, or nginx's orphaned workers
  // keep the listening socket (serving the old config) and the new nginx cannot bind.
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return false;
    }
  }
  for (let i = 0; i < 100 && (await running(pid)); i++) await new Promise((r) => setTimeout(r, 20));
  return true;
}

/** Alive and not a zombie (an orphan nobody reaps stays a zombie, holding nothing). */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) [ZX] /.test(stat);
}
