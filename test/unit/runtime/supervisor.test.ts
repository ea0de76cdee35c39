import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { processStartTime } from '../../../src/apply/runtime/process/process-record.js';
import { createSupervisedProcess, type SupervisedProcess } from '../../../src/apply/runtime/process/supervisor.js';
import { createLogger } from '../../../src/log.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

// Real (tiny) child processes, fake time: the restart and poll delays are driven by hand.
const dir = mkdtempSync(path.join(tmpdir(), 'regcache-supervisor-'));
const running: SupervisedProcess[] = [];
const strays: number[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop(1000)));
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function setup(opts: { stableAfterMs?: number; adoptedPollMs?: number; script?: string } = {}) {
  const clock = createFakeClock();
  const starts: number[] = [];
  const exits: Array<{ code: number | null; signal: NodeJS.Signals | null; willRestart: boolean }> = [];
  const logFile = path.join(dir, `sleeper-${Math.random().toString(36).slice(2)}.log`);
  const proc = createSupervisedProcess({
    name: 'sleeper',
    command: opts.script ? 'sh' : 'sleep',
    args: opts.script ? ['-c', opts.script] : ['60'],
    logFile,
    clock,
    logger: createLogger({ level: 'silent' }),
    stableAfterMs: opts.stableAfterMs ?? 30_000,
    adoptedPollMs: opts.adoptedPollMs ?? 500,
    onStart: (pid) => starts.push(pid),
    onExit: (info) => exits.push(info),
  });
  running.push(proc);
  return { clock, proc, starts, exits, logFile };
}

/** A child that traps SIGQUIT (as nginx drains on it): `onQuit` runs then; it says `ready` once trapped. */
const trapsQuit = (onQuit: string) => `trap '${onQuit}' QUIT; echo ready; while :; do sleep 0.05; done`;

async function ready(s: ReturnType<typeof setup>) {
  await vi.waitFor(() => expect(readFileSync(s.logFile, 'utf8')).toContain('ready'), { timeout: 10_000, interval: 10 });
}

/** Kills the current child as a crash would, and waits until the supervisor has seen the exit. */
async function crash(s: ReturnType<typeof setup>) {
  const before = s.exits.length;
  expect(s.proc.signal('SIGKILL')).toBe(true);
  await vi.waitFor(() => expect(s.exits.length).toBe(before + 1), { timeout: 10_000, interval: 10 });
}

async function startedTimes(s: ReturnType<typeof setup>, n: number) {
  await vi.waitFor(() => expect(s.starts.length).toBe(n), { timeout: 10_000, interval: 10 });
}

describe('supervised process (fake clock)', () => {
  it('restarts a child that exits on its own with doubling delays, reset by a stable run', async () => {
    const s = setup({ stableAfterMs: 10_000 });
    s.proc.start();
    await startedTimes(s, 1);

    await crash(s);
    expect(s.exits[0]).toMatchObject({ signal: 'SIGKILL', willRestart: true });
    expect(s.proc.lastError).toContain('sleeper exited (SIGKILL)');
    await s.clock.advance(499);
    expect(s.starts).toHaveLength(1);
    await s.clock.advance(1);
    await startedTimes(s, 2);
    expect(s.proc.restarts).toBe(1);

    await crash(s);
    await s.clock.advance(999);
    expect(s.starts).toHaveLength(2);
    await s.clock.advance(1);
    await startedTimes(s, 3);

    await crash(s);
    await s.clock.advance(1999);
    expect(s.starts).toHaveLength(3);
    await s.clock.advance(1);
    await startedTimes(s, 4);
    expect(s.proc.restarts).toBe(3);

    // Ran longer than stableAfterMs: the next delay starts again at 500 ms.
    await s.clock.advance(10_000);
    await crash(s);
    await s.clock.advance(500);
    await startedTimes(s, 5);
  });

  it('start() during the backoff of a crash restart is that restart: run at once, counted once', async () => {
    const s = setup();
    s.proc.start();
    await startedTimes(s, 1);
    await crash(s);
    // A reconcile pass finds nginx not running and asks for it before the 500 ms backoff ends.
    s.proc.start();
    await startedTimes(s, 2);
    expect(s.proc.restarts).toBe(1);
    expect(s.proc.running).toBe(true);
    // The backoff's timer is gone: no second child later.
    await s.clock.advance(5000);
    expect(s.starts).toHaveLength(2);
    expect(s.proc.restarts).toBe(1);
  });

  it('stop() cancels a pending restart and leaves no timer', async () => {
    const s = setup();
    s.proc.start();
    await startedTimes(s, 1);
    await crash(s);
    expect(s.clock.pending()).toBe(1);
    await s.proc.stop(1000);
    expect(s.clock.pending()).toBe(0);
    await s.clock.advance(60_000);
    expect(s.starts).toHaveLength(1);
    expect(s.proc.running).toBe(false);
  });

  it('stop() ends the child without a restart and reports willRestart false', async () => {
    const s = setup();
    s.proc.start();
    await startedTimes(s, 1);
    expect(s.proc.running).toBe(true);
    await s.proc.stop(1000);
    expect(s.exits).toEqual([{ code: null, signal: 'SIGTERM', willRestart: false }]);
    expect(s.clock.pending()).toBe(0);
    await s.clock.advance(60_000);
    expect(s.starts).toHaveLength(1);
  });

  it('stop() with a drain lets the child finish on the drain signal: no SIGTERM when it exits in time', async () => {
    const s = setup({ script: trapsQuit('sleep 0.3; exit 7') });
    s.proc.start();
    await ready(s);
    const t0 = Date.now();
    await s.proc.stop(1000, { signal: 'SIGQUIT', ms: 5000 });
    // Exited by its own hand after the drain work (code 7), not killed by the SIGTERM that follows a timeout.
    expect(s.exits).toEqual([{ code: 7, signal: null, willRestart: false }]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('stop() with a drain sends SIGTERM once the drain time is up', async () => {
    // Ignores SIGQUIT: it would run forever.
    const s = setup({ script: trapsQuit(':') });
    s.proc.start();
    await ready(s);
    const t0 = Date.now();
    await s.proc.stop(1000, { signal: 'SIGQUIT', ms: 400 });
    expect(s.exits).toEqual([{ code: null, signal: 'SIGTERM', willRestart: false }]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
  });

  it('polls an adopted process and restarts its own child once it is gone', async () => {
    const s = setup({ adoptedPollMs: 500 });
    // Started by "an earlier daemon": not the supervisor's child.
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    strays.push(other.pid!);
    await vi.waitFor(() => expect(processStartTime(other.pid!)).not.toBeNull(), { timeout: 5000, interval: 10 });
    s.proc.adopt(other.pid!, processStartTime(other.pid!)!);
    expect(s.proc.pid).toBe(other.pid);
    expect(s.proc.running).toBe(true);

    await s.clock.advance(500);
    await s.clock.advance(500);
    expect(s.exits).toHaveLength(0);
    expect(s.clock.pending()).toBe(1);

    const gone = new Promise((r) => other.once('exit', r));
    other.kill('SIGKILL');
    await gone;
    await vi.waitFor(() => expect(processStartTime(other.pid!)).toBeNull(), { timeout: 5000, interval: 10 });
    await s.clock.advance(500); // the poll notices
    expect(s.exits).toEqual([{ code: null, signal: null, willRestart: true }]);
    expect(s.proc.running).toBe(false);
    await s.clock.advance(500); // first restart delay
    await startedTimes(s, 1);
    expect(s.proc.pid).not.toBe(other.pid);
    expect(s.proc.restarts).toBe(1);
  });

  it('stop() of an adopted process ends it and its poll', async () => {
    const s = setup({ adoptedPollMs: 500 });
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    strays.push(other.pid!);
    await vi.waitFor(() => expect(processStartTime(other.pid!)).not.toBeNull(), { timeout: 5000, interval: 10 });
    const gone = new Promise((r) => other.once('exit', r));
    s.proc.adopt(other.pid!, processStartTime(other.pid!)!);
    expect(s.clock.pending()).toBe(1);
    await s.proc.stop(2000);
    await gone;
    expect(s.clock.pending()).toBe(0);
    await s.clock.advance(60_000);
    expect(s.starts).toHaveLength(0);
    expect(s.exits).toHaveLength(0);
  });
});
