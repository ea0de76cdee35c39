// Makes sure helper processes and temp dirs never outlive the test process.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { findBinary } from './binaries.js';

// The one intentional module-level mutable state: what to reap when the
// (worker) process exits, even if a test forgot to call stop().
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL and rmSync only.
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * spawn() that registers the child for reaping on exit. When util-linux
 * `setpriv` exists the child also gets PR_SET_PDEATHSIG=SIGKILL, which covers
 * the case where the test process is itself SIGKILLed and 'exit' never runs.
 */
export function spawnTracked(command: string, args: string[], options: SpawnOptions): ChildProcess {
  installExitHook();
  const setpriv = findBinary('setpriv');
  const child = setpriv ? spawn(setpriv, ['--pdeathsig', 'SIGKILL', '--', command, ...args], options) : spawn(command, args, options);
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

/** Registers a temp dir to be removed on process exit unless released first. */
export function trackTempDir(dir: string): void {
  installExitHook();
  liveDirs.add(dir);
}

export function releaseTempDir(dir: string): void {
  liveDirs.delete(dir);
}

/**
 * The one stop sequence for a helper's child: SIGTERM, SIGKILL after graceMs, wait for `exited`
 * (the caller's promise, resolved on exit or close), then remove and forget its temp dir.
 */
export async function stopChildAndDir(child: ChildProcess, exited: Promise<unknown>, dir: string, graceMs: number): Promise<void> {
  let killer: ReturnType<typeof setTimeout> | undefined;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  }
  await exited;
  clearTimeout(killer);
  await rm(dir, { recursive: true, force: true });
  releaseTempDir(dir);
}
