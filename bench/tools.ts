// External load tools (curl, wrk) and process readings used by the benchmark.
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Target {
  /** http://127.0.0.1:PORT */
  base: string;
  /** Host header; null sends the address's own. */
  host: string | null;
}

function hostArgs(target: Target): string[] {
  return target.host ? ['-H', `Host: ${target.host}`] : [];
}

/** One curl download; seconds and bytes as curl measured them. */
export async function curlDownload(target: Target, urlPath: string): Promise<{ seconds: number; bytes: number; status: number }> {
  const { stdout } = await run('curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{time_total} %{size_download} %{http_code}',
    ...hostArgs(target),
    target.base + urlPath,
  ]);
  const [seconds, bytes, status] = stdout.trim().split(' ').map(Number);
  return { seconds: seconds!, bytes: bytes!, status: status! };
}

/** `streams` curls at once; wall time of the whole batch and the statuses. */
export async function parallelDownloads(
  target: Target,
  urlPath: string,
  streams: number,
): Promise<{ seconds: number; bytes: number; statuses: number[] }> {
  const started = process.hrtime.bigint();
  const results = await Promise.all(Array.from({ length: streams }, () => curlDownload(target, urlPath)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, bytes: results.reduce((n, r) => n + r.bytes, 0), statuses: results.map((r) => r.status) };
}

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

/** wrk for `seconds` with `connections` keep-alive connections on two threads. */
export async function wrk(target: Target, urlPath: string, headers: Record<string, string>, seconds: number, connections = 32): Promise<WrkResult> {
  const headerArgs = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const { stdout } = await run('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, ...hostArgs(target), ...headerArgs, target.base + urlPath], {
    timeout: (seconds + 30) * 1000,
  });
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return {
    requestsPerSecond: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors: errors ? errors.slice(1).reduce((n, x) => n + Number(x), 0) : 0,
  };
}

/** Resident set size of a process in bytes (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Samples the RSS of `pid` every `everyMs` until stopped; returns the peak. */
export function sampleRss(pid: number, everyMs = 100): { stop(): Promise<number> } {
  let peak = 0;
  const timer = setInterval(() => {
    rssBytes(pid)
      .then((n) => (peak = Math.max(peak, n)))
      .catch(() => undefined);
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      peak = Math.max(peak, await rssBytes(pid).catch(() => 0));
      return peak;
    },
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function requireTool(name: string): void {
  const probe = spawn('sh', ['-c', `command -v ${name}`]);
  probe.on('exit', (code) => {
    if (code !== 0) {
      process.stderr.write(`bench: ${name} not found (install Debian package ${name})\n`);
      process.exit(1);
    }
  });
}
