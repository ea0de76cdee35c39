// The real `regcache run` as a child process, so tests can kill -9 it and start it again.
import { type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../../src/util/package-root.js';
import { waitFor } from './binaries.js';
import { spawnTracked } from './child-cleanup.js';

export interface DaemonProcess {
  child: ChildProcess;
  pid: number;
  /** stdout (pino JSON) and stderr lines so far. */
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function cliPath(): string {
  const cli = path.join(packageRoot(), 'dist', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first`);
  return cli;
}

/** Starts `regcache run --config FILE` and waits until its admin API answers /healthz. */
export async function startDaemonProcess(configFile: string, adminUrl: string, env: Record<string, string> = {}): Promise<DaemonProcess> {
  const child = spawnTracked(process.execPath, [cliPath(), 'run', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, REGCACHE_LOG_LEVEL: 'debug', ...env },
  });
  const output: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => output.push(l));
  createInterface({ input: child.stderr! }).on('line', (l) => output.push(l));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  void exited.then(() => (done = true));
  await waitFor(
    async () => {
      if (done) throw new Error(`regcache run exited during start:\n${output.join('\n')}`);
      return (await fetch(`${adminUrl}/healthz`)).ok;
    },
    { timeoutMs: 30_000, what: 'regcache run to answer /healthz' },
  );
  return {
    child,
    pid: child.pid!,
    output,
    exited,
    async kill(signal = 'SIGKILL') {
      if (done) return;
      child.kill(signal);
      await exited;
    },
  };
}
