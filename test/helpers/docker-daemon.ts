// A regcache daemon on the Docker runtime (host networking, loopback ports) for integration tests,
// with its log captured and everything it created in Docker removed afterwards.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { instanceId } from '../../src/apply/runtime/docker/cache-container.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { createSystemClock } from '../../src/util/clock.js';
import { findFreePort } from './binaries.js';
import { docker } from './registry-image.js';

export interface RegistryEntry {
  upstream: string;
  username?: string;
  password?: string;
  cache?: Record<string, unknown>;
  aliases?: string[];
}

export interface DockerTestEnv {
  dir: string;
  dataDir: string;
  configPath: string;
  nginxPort: number;
  adminPort: number;
  domain: string;
  /** Label value marking everything this test's daemon owns in Docker. */
  instance: string;
  logs: string[];
  writeConfig(registries: Record<string, RegistryEntry>, extra?: Record<string, unknown>): Promise<void>;
  start(): Promise<Daemon>;
  stopDaemon(): Promise<void>;
  api<T = unknown>(path: string, init?: RequestInit): Promise<{ status: number; body: T; text: string }>;
  /** Stops the daemon (if running), removes our containers and volumes and the temp dir. */
  cleanup(): Promise<void>;
}

export async function createDockerTestEnv(opts: { domain: string; socket?: string }): Promise<DockerTestEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'regcache-docker-test-'));
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'registries.yaml');
  const nginxPort = await findFreePort();
  const adminPort = await findFreePort();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  let daemon: Daemon | null = null;
  const instance = instanceId(dataDir);

  const env: DockerTestEnv = {
    dir,
    dataDir,
    configPath,
    nginxPort,
    adminPort,
    domain: opts.domain,
    instance,
    logs,
    async writeConfig(registries, extra = {}) {
      const config = {
        domain: opts.domain,
        listen: `127.0.0.1:${nginxPort}`,
        admin: { listen: `127.0.0.1:${adminPort}` },
        runtime: 'docker',
        dataDir,
        docker: { network: 'host', ...(opts.socket ? { socket: opts.socket } : {}) },
        registries,
        ...extra,
      };
      await writeFile(configPath, stringify(config));
    },
    async start() {
      daemon = await startDaemon({
        configPath,
        env: { PATH: process.env.PATH },
        clock: createSystemClock(),
        logger: createLogger({ level: 'debug', destination: sink }),
        observe: { diskSampleMs: 1000 },
      });
      return daemon;
    },
    async stopDaemon() {
      await daemon?.stop();
      daemon = null;
    },
    async api(path, init) {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, init);
      const text = await res.text();
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
      return { status: res.status, body: body as never, text };
    },
    async cleanup() {
      if (daemon) await daemon.stop().catch(() => undefined);
      daemon = null;
      await removeOwned(instance);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return env;
}

/** Removes the containers and volumes labelled with this instance (and nothing else). */
export async function removeOwned(instance: string): Promise<void> {
  const filter = `label=io.regcache.instance=${instance}`;
  const ids = (await docker(['ps', '-aq', '--filter', filter])).split('\n').filter(Boolean);
  if (ids.length) await docker(['rm', '-f', ...ids]);
  const vols = (await docker(['volume', 'ls', '-q', '--filter', filter])).split('\n').filter(Boolean);
  if (vols.length) await docker(['volume', 'rm', '-f', ...vols]);
}

export interface ContainerInfo {
  id: string;
  name: string;
  running: boolean;
  startedAt: string;
  labels: Record<string, string>;
  env: string[];
  restartPolicy: string;
  mounts: Array<{ Type: string; Name?: string; Destination: string }>;
  networkMode: string;
}

export async function inspectContainer(name: string): Promise<ContainerInfo | null> {
  try {
    const [c] = JSON.parse(await docker(['inspect', '--type', 'container', name]));
    return {
      id: c.Id,
      name: c.Name.replace(/^\//, ''),
      running: c.State.Running,
      startedAt: c.State.StartedAt,
      labels: c.Config.Labels ?? {},
      env: c.Config.Env ?? [],
      restartPolicy: c.HostConfig.RestartPolicy.Name,
      mounts: c.Mounts,
      networkMode: c.HostConfig.NetworkMode,
    };
  } catch {
    return null;
  }
}

/** Container names carrying a vhost label, for counting duplicates. */
export async function containersForVhost(vhost: string): Promise<string[]> {
  return (await docker(['ps', '-a', '--filter', `label=io.regcache.vhost=${vhost}`, '--format', '{{.Names}}'])).split('\n').filter(Boolean);
}
