import { readFile, readdir } from 'node:fs/promises';

/** One nginx worker as the OS lists it: its pid and process title. */
export interface NginxWorker {
  pid: number;
  title: string;
}

/**
 * Whether a worker may still take new connections. A worker told to shut down (after a reload)
 * closes its listening sockets and then retitles itself; until then it accepts like a new one.
 */
export function mayAccept(worker: NginxWorker): boolean {
  return /nginx: worker process/.test(worker.title) && !/is shutting down/.test(worker.title);
}

/** The pids among `before` that may still accept connections, given the workers listed now. */
export function stillAccepting(before: readonly number[], now: readonly NginxWorker[]): number[] {
  const old = new Set(before);
  return now.filter((w) => old.has(w.pid) && mayAccept(w)).map((w) => w.pid);
}

/** The children of `masterPid` from /proc (Linux), with their titles; [] when it has none or is gone. */
export async function procChildren(masterPid: number): Promise<NginxWorker[]> {
  const found: NginxWorker[] = [];
  for (const pid of await childPids(masterPid)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
    if (cmdline !== null) found.push({ pid, title: cmdline.replace(/\0+$/, '').replace(/\0/g, ' ') });
  }
  return found;
}

async function childPids(masterPid: number): Promise<number[]> {
  // The kernel's own list of a process's children: one read instead of a scan of every process
  // (which took tens of ms on a busy host, in a loop that runs every 10 ms during a reload).
  const listed = await readFile(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8').catch(() => null);
  if (listed !== null)
    return listed
      .split(' ')
      .filter((p) => p !== '')
      .map(Number);
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    // The command in parentheses may hold spaces; the fields after the last ')' are fixed.
    const ppid = stat === null ? NaN : Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === masterPid) pids.push(Number(entry));
  }
  return pids;
}
