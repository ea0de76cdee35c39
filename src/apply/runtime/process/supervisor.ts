import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../../log.js';
import { backoffDelay } from '../../../util/backoff.js';
import type { Clock, TimerHandle } from '../../../util/clock.js';
import { isSameProcess } from './process-record.js';

export interface SupervisedProcessOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  clock: Clock;
  logger: Logger;
  /** A run at least this long resets the backoff. */
  stableAfterMs?: number;
  onExit?: (info: { code: number | null; signal: NodeJS.Signals | null; willRestart: boolean }) => void;
  onStart?: (pid: number) => void;
  /** How often an adopted process (not our child, so no exit event) is checked for liveness. */
  adoptedPollMs?: number;
  /** File mode mask of the child (it inherits the daemon's otherwise). */
  umask?: number;
}

export interface SupervisedProcess {
  readonly pid: number | null;
  readonly restarts: number;
  readonly running: boolean;
  readonly lastError: string | null;
  start(): void;
  /**
   * SIGTERM, then SIGKILL after graceMs; no restart afterwards. With `drain`, its signal comes first
   * (nginx's SIGQUIT: finish what is in flight) and SIGTERM only if the process is still there after
   * drain.ms.
   */
  stop(graceMs?: number, drain?: StopDrain): Promise<void>;
  signal(sig: NodeJS.Signals): boolean;
  /**
   * Supervises a process an earlier daemon started (identified by pid and start time): it is not our
   * child, so its liveness is polled; when it dies it is restarted like our own children.
   */
  adopt(pid: number, start: string): void;
}

/** A graceful first step of stop(): the signal that asks for it and how long it may take. */
export interface StopDrain {
  signal: NodeJS.Signals;
  ms: number;
}

/** Runs one child process and restarts it with backoff when it exits on its own. */
export function createSupervisedProcess(opts: SupervisedProcessOptions): SupervisedProcess {
  let child: ChildProcess | null = null;
  let restarts = 0;
  let attempt = 0;
  let stopping = false;
  let startedAt = 0;
  let lastError: string | null = null;
  let restartTimer: TimerHandle | null = null;
  let adopted: { pid: number; start: string } | null = null;
  let pollTimer: TimerHandle | null = null;
  /** The restart after a crash, while it waits for its backoff or the old group. */
  let pendingRelaunch: (() => void) | null = null;
  const stableAfterMs = opts.stableAfterMs ?? 30_000;

  /**
   * What follows an exit we did not ask for: count it, restart with backoff. `group`: the exited
   * process's group, just killed; the relaunch waits for it to be gone.
   */
  const exitedOnItsOwn = (code: number | null, signal: NodeJS.Signals | null, group: number | undefined) => {
    const willRestart = !stopping;
    if (!stopping) {
      lastError = `${opts.name} exited (${signal ?? `code ${code}`}); see ${opts.logFile}`;
      if (opts.clock.now() - startedAt >= stableAfterMs) attempt = 0;
      const delay = backoffDelay(attempt++, 500);
      opts.logger.warn({ process: opts.name, code, signal, restartInMs: delay }, 'process exited; restarting');
      const relaunchAt = opts.clock.now() + delay;
      // A killed group's members may still hold its ports for a moment: a launch before they are gone
      // would fail to bind and grow the backoff, so wait for them (bounded) after the delay.
      const relaunch = () => {
        restartTimer = null;
        if (stopping) return;
        if (groupAlive(group) && opts.clock.now() < relaunchAt + 5000) {
          restartTimer = opts.clock.setTimeout(relaunch, 50);
          return;
        }
        pendingRelaunch = null;
        restarts++;
        launch();
      };
      pendingRelaunch = relaunch;
      restartTimer = opts.clock.setTimeout(relaunch, delay);
    }
    opts.onExit?.({ code, signal, willRestart });
  };

  const pollAdopted = () => {
    pollTimer = null;
    const a = adopted;
    if (!a || stopping) return;
    if (isSameProcess(a)) {
      pollTimer = opts.clock.setTimeout(pollAdopted, opts.adoptedPollMs ?? 500);
      return;
    }
    adopted = null;
    // Its orphaned workers (nginx) would keep the listening socket.
    killGroup(a.pid);
    exitedOnItsOwn(null, null, a.pid);
  };

  const launch = () => {
    restartTimer = null;
    mkdirSync(path.dirname(opts.logFile), { recursive: true });
    const fd = openSync(opts.logFile, 'a');
    // Own process group: a terminal's Ctrl-C reaches only the daemon, which stops children in order,
    // and a crashed master's orphaned workers can be killed as a group.
    // spawn forks synchronously, so a umask set around it reaches only this child.
    const previousUmask = opts.umask === undefined ? undefined : process.umask(opts.umask);
    let proc: ChildProcess;
    try {
      proc = spawn(opts.command, opts.args, { stdio: ['ignore', fd, fd], env: opts.env ?? process.env, detached: true });
    } finally {
      if (previousUmask !== undefined) process.umask(previousUmask);
    }
    closeSync(fd);
    child = proc;
    startedAt = opts.clock.now();
    proc.once('spawn', () => opts.onStart?.(proc.pid!));
    proc.once('error', (err) => {
      lastError = `${opts.name}: ${err.message}`;
      opts.logger.error({ process: opts.name, err: err.message }, 'process failed to start');
    });
    proc.once('exit', (code, signal) => {
      if (child === proc) child = null;
      killGroup(proc.pid);
      exitedOnItsOwn(code, signal, proc.pid);
    });
  };

  return {
    get pid() {
      return child?.pid ?? adopted?.pid ?? null;
    },
    get restarts() {
      return restarts;
    },
    get running() {
      return (child !== null && child.exitCode === null) || adopted !== null;
    },
    get lastError() {
      return lastError;
    },
    start() {
      stopping = false;
      if (restartTimer) opts.clock.clearTimeout(restartTimer);
      restartTimer = null;
      // Asked to run while a crash restart waits out its backoff: that restart happens now, counted,
      // and still after the crashed process's group is gone.
      if (pendingRelaunch) return pendingRelaunch();
      if (child || adopted) return;
      launch();
    },
    adopt(pid, start) {
      if (child || adopted) return;
      stopping = false;
      adopted = { pid, start };
      startedAt = opts.clock.now();
      pollTimer = opts.clock.setTimeout(pollAdopted, opts.adoptedPollMs ?? 500);
    },
    async stop(graceMs = 5000, drain) {
      stopping = true;
      pendingRelaunch = null;
      if (restartTimer) opts.clock.clearTimeout(restartTimer);
      if (pollTimer) opts.clock.clearTimeout(pollTimer);
      if (adopted) {
        const a = adopted;
        adopted = null;
        await stopAdopted(a, graceMs, drain);
        return;
      }
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      if (drain && proc.kill(drain.signal)) {
        let timer: NodeJS.Timeout | undefined;
        const drained = await Promise.race([
          exited.then(() => true),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), drain.ms))),
        ]);
        clearTimeout(timer);
        if (drained) return;
        opts.logger.warn({ process: opts.name, drainMs: drain.ms }, 'still busy after the drain time; stopping it');
      }
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
    signal(sig) {
      if (adopted) {
        try {
          process.kill(adopted.pid, sig);
          return true;
        } catch {
          return false;
        }
      }
      return child?.kill(sig) ?? false;
    },
  };
}

/** (drain.signal, waiting drain.ms, then) SIGTERM, then SIGKILL to its group after graceMs; resolves once it is gone. */
async function stopAdopted(a: { pid: number; start: string }, graceMs: number, drain: StopDrain | undefined): Promise<void> {
  const within = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (isSameProcess(a) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return !isSameProcess(a);
  };
  try {
    if (drain) {
      process.kill(a.pid, drain.signal);
      if (await within(drain.ms)) return killGroup(a.pid);
    }
    process.kill(a.pid, 'SIGTERM');
  } catch {
    return;
  }
  await within(graceMs);
  killGroup(a.pid);
  for (let i = 0; i < 100 && isSameProcess(a); i++) await new Promise((r) => setTimeout(r, 20));
}

function groupAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Group already gone.
  }
}
