import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../../util/atomic-write.js';

/**
 * What a daemon records about a child it started, so the next daemon (after a crash or an upgrade)
 * can find it again. `start` is the kernel's start time of the process (clock ticks since boot):
 * pid plus start time names one process for the machine's uptime, so a reused pid never matches.
 */
export interface ProcessRecord {
  pid: number;
  start: string;
  [key: string]: unknown;
}

/** The start time of a live, non-zombie process (field 22 of /proc/PID/stat), or null. */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may hold spaces and parentheses: fields after it follow the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  if (state === 'Z' || state === 'X') return null;
  return rest[19] ?? null;
}

/** True while the recorded process is alive and is still the one that was recorded. */
export function isSameProcess(record: Pick<ProcessRecord, 'pid' | 'start'>): boolean {
  return processStartTime(record.pid) === record.start;
}

export async function writeProcessRecord(file: string, pid: number, extra: Record<string, unknown> = {}): Promise<void> {
  const start = processStartTime(pid);
  if (start === null) return;
  await writeFileAtomic(file, JSON.stringify({ ...extra, pid, start }) + '\n', 0o600);
}

/**
 * The recorded process when it is still alive, is the same process (pid and start time) and its
 * command line holds `marker` (our config file path); else null.
 */
export async function findRecordedProcess(file: string, marker: string): Promise<ProcessRecord | null> {
  let record: ProcessRecord;
  try {
    record = JSON.parse(await readFile(file, 'utf8')) as ProcessRecord;
  } catch {
    return null;
  }
  if (!Number.isInteger(record.pid) || record.pid <= 1 || typeof record.start !== 'string') return null;
  if (!isSameProcess(record)) return null;
  const cmdline = await readFile(`/proc/${record.pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.replace(/\0/g, ' ').includes(marker) ? record : null;
}
