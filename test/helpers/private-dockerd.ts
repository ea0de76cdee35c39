// A second, private dockerd for tests: its own data-root, exec-root, pidfile and unix socket under
// a temp dir, no bridge and no iptables, running on a containerd the test started. The machine's
// own dockerd is never touched.
import { execFile, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireBinary, waitFor } from './binaries.js';
import { spawnTracked, stopChildAndDir, trackTempDir } from './child-cleanup.js';
import type { PrivateHosts } from './private-hosts.js';

const run = promisify(execFile);

export interface PrivateDockerd {
  socket: string;
  /** Runs the docker CLI against this daemon only. */
  docker(args: string[]): Promise<string>;
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface PrivateDockerdOptions {
  /** daemon.json content (the generated fragment); everything else is passed as flags. */
  daemonJson: string;
  containerdAddress: string;
  hosts: PrivateHosts;
}

export async function startPrivateDockerd(opts: PrivateDockerdOptions): Promise<PrivateDockerd> {
  const dockerd = requireBinary(['dockerd', '/usr/sbin/dockerd']);
  const dockerCli = requireBinary(['docker']);
  // Short path: dockerd puts unix sockets under exec-root.
  const dir = await mkdtemp(join(tmpdir(), 'rc-dockerd-'));
  trackTempDir(dir);
  const socket = join(dir, 'docker.sock');
  const configFile = join(dir, 'daemon.json');
  await writeFile(configFile, opts.daemonJson);
  const logFile = join(dir, 'dockerd.log');
  const args = [
    '--config-file',
    configFile,
    '--data-root',
    join(dir, 'data'),
    '--exec-root',
    join(dir, 'exec'),
    '--pidfile',
    join(dir, 'docker.pid'),
    '-H',
    `unix://${socket}`,
    '--containerd',
    opts.containerdAddress,
    '--containerd-namespace',
    'regcache-test-moby',
    '--containerd-plugins-namespace',
    'regcache-test-plugins',
    '--bridge',
    'none',
    '--iptables=false',
    '--ip-masq=false',
    '--storage-driver',
    'vfs',
  ];
  const { command, args: fullArgs } = opts.hosts.wrap(dockerd, args);
  const logFd = openSync(logFile, 'a');
  const child: ChildProcess = spawnTracked(command, fullArgs, { stdio: ['ignore', logFd, logFd], env: { ...process.env, DOCKER_HOST: undefined } });
  closeSync(logFd);
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const docker = async (cliArgs: string[]): Promise<string> => {
    try {
      const env = { ...process.env, DOCKER_CONFIG: join(dir, 'cli-config') };
      const { stdout } = await run(dockerCli, ['-H', `unix://${socket}`, ...cliArgs], { env, timeout: 120_000, maxBuffer: 16 << 20 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`docker ${cliArgs.join(' ')} failed: ${e.stderr || e.message}`);
    }
  };
  const log = () => readFile(logFile, 'utf8').catch(() => '');

  try {
    await waitFor(async () => child.exitCode === null && (await docker(['version', '--format', '{{.Server.Version}}'])).trim().length > 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'the private dockerd to answer',
    });
  } catch (err) {
    child.kill('SIGKILL');
    await gone;
    throw new Error(`private dockerd did not start: ${(err as Error).message}\n${await log()}`);
  }

  return {
    socket,
    docker,
    log,
    async stop() {
      await stopChildAndDir(child, gone, dir, 15_000);
    },
  };
}
