// A private containerd (root, state, socket under a temp dir) and its real `ctr` client.
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireBinary, waitFor } from './binaries.js';
import { spawnTracked, stopChildAndDir, trackTempDir } from './child-cleanup.js';
import type { PrivateHosts } from './private-hosts.js';

const run = promisify(execFile);

export interface Containerd {
  address: string;
  dir: string;
  /** Runs `ctr --address … ARGS` (through the private hosts file when given); resolves to stdout, throws with stderr. */
  ctr(args: string[], hosts?: PrivateHosts): Promise<string>;
  /** The manifest digest containerd recorded for an image reference. */
  imageDigest(namespace: string, ref: string): Promise<string>;
  stop(): Promise<void>;
}

function configToml(dir: string, address: string): string {
  // No CRI (it wants a kubelet's world); the native snapshotter works where overlayfs does not (nested sandboxes).
  return [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
    '[grpc]',
    `  address = "${address}"`,
    '[ttrpc]',
    `  address = "${address}.ttrpc"`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '',
  ].join('\n');
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

export async function startContainerd(): Promise<Containerd> {
  const bin = requireBinary(['containerd']);
  const ctrBin = requireBinary(['ctr']);
  const dir = await mkdtemp(join(tmpdir(), 'regcache-ctrd-'));
  trackTempDir(dir);
  const address = join(dir, 'containerd.sock');
  await writeFile(join(dir, 'config.toml'), configToml(dir, address));
  const logFile = join(dir, 'containerd.log');
  const { openSync, closeSync } = await import('node:fs');
  const logFd = openSync(logFile, 'a');
  const child = spawnTracked(bin, ['--config', join(dir, 'config.toml'), '--log-level', 'info'], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const gone = exited(child);

  const ctr = async (args: string[], hosts?: PrivateHosts): Promise<string> => {
    const argv = ['--address', address, ...args];
    const { command, args: fullArgs } = hosts ? hosts.wrap(ctrBin, argv) : { command: ctrBin, args: argv };
    try {
      const { stdout } = await run(command, fullArgs, { maxBuffer: 16 << 20, timeout: 120_000 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`ctr ${args.join(' ')} failed: ${e.stderr || e.message}\n${e.stdout ?? ''}`);
    }
  };

  try {
    await waitFor(async () => child.exitCode === null && (await ctr(['version'])).includes('Server:'), {
      timeoutMs: 20_000,
      what: 'containerd to answer',
    });
  } catch (err) {
    child.kill('SIGKILL');
    await gone;
    throw new Error(`containerd did not start: ${(err as Error).message}\n${await readFile(logFile, 'utf8').catch(() => '')}`);
  }

  return {
    address,
    dir,
    ctr,
    async imageDigest(namespace, ref) {
      // ctr images ls: REF TYPE DIGEST SIZE PLATFORMS LABELS
      const out = await ctr(['--namespace', namespace, 'images', 'ls', `name==${ref}`]);
      const line = out.split('\n').find((l) => l.startsWith(`${ref} `));
      if (!line) throw new Error(`image ${ref} not in containerd namespace ${namespace}:\n${out}`);
      return line.split(/\s+/)[2]!;
    },
    async stop() {
      await stopChildAndDir(child, gone, dir, 10_000);
    },
  };
}
