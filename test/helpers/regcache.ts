// Runs the real regcache daemon in-process (real nginx, real registry processes) on free loopback ports.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { createSystemClock } from '../../src/util/clock.js';
import { findFreePort, requireBinary } from './binaries.js';

export interface RegistryEntry {
  upstream: string;
  username?: string;
  password?: string;
  aliases?: string[];
  [key: string]: unknown;
}

export interface RegcacheConfigInput {
  domain?: string;
  registries: Record<string, RegistryEntry>;
  /** Any further top-level keys (cache:, tls:, …). */
  [key: string]: unknown;
}

export interface RunningRegcache {
  dir: string;
  configFile: string;
  domain: string;
  routerPort: number;
  routerUrl: string;
  adminUrl: string;
  daemon: Daemon;
  /** pino lines the daemon logged so far. */
  logs: string[];
  /** Rewrites the config file (the watcher picks it up). */
  writeConfig(input: RegcacheConfigInput | string): Promise<void>;
  /** The config object with ports filled in, for building the next version. */
  configFor(input: RegcacheConfigInput): Record<string, unknown>;
  /** Stops the daemon; removes the directory unless keepDir. */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
  adminPort: number;
}

export interface StartRegcacheOptions {
  env?: Record<string, string>;
  resyncMs?: number;
  upstreamProbeMs?: number;
  /** How often the daemon measures free space under dataDir and removes abandoned uploads. */
  diskSpace?: { checkMs?: number; cleanupMs?: number };
  /** Reuse a directory (and its dataDir) from an earlier run, e.g. to restart the daemon. */
  dir?: string;
  /** Reuse ports from an earlier run. */
  ports?: { router: number; admin: number };
  /** Cluster: a fake `dns:` lookup and faster re-resolving and peer probes (see DaemonOptions.cluster). */
  cluster?: DaemonOptions['cluster'];
  /** The router's listen address (a loopback address such as 127.0.0.11 for several nodes on one host); 127.0.0.1 by default. */
  host?: string;
  /** Runs before the config is written: files the config refers to (certificates, htpasswd, secrets). */
  prepare?: (dir: string) => Promise<void>;
}

export async function startRegcache(input: RegcacheConfigInput, opts: StartRegcacheOptions = {}): Promise<RunningRegcache> {
  requireBinary(['nginx'], 'REGCACHE_NGINX_BIN');
  requireBinary(['registry', 'docker-registry'], 'REGCACHE_REGISTRY_BIN');
  const dir = opts.dir ?? (await mkdtemp(path.join(tmpdir(), 'regcache-test-')));
  // nginx workers run unprivileged; they must be able to traverse to dataDir.
  await chmod(dir, 0o755);
  const routerPort = opts.ports?.router ?? (await findFreePort(opts.host));
  const adminPort = opts.ports?.admin ?? (await findFreePort());
  const domain = input.domain ?? 'registry.test';
  const host = opts.host ?? '127.0.0.1';
  const configFile = path.join(dir, 'registries.yaml');
  const configFor = (i: RegcacheConfigInput) => ({
    domain,
    listen: `${host}:${routerPort}`,
    admin: { listen: `127.0.0.1:${adminPort}` },
    runtime: 'process',
    dataDir: './data',
    ...i,
  });
  const writeConfig = async (i: RegcacheConfigInput | string) => {
    const text = typeof i === 'string' ? i : stringify(configFor(i));
    // Write then rename, as editors do, so the watcher never reads half a file.
    const tmp = `${configFile}.tmp`;
    await writeFile(tmp, text);
    const { rename } = await import('node:fs/promises');
    await rename(tmp, configFile);
  };
  await opts.prepare?.(dir);
  await writeConfig(input);

  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const daemon = await startDaemon({
    configPath: configFile,
    env: { PATH: process.env.PATH, ...opts.env },
    clock: createSystemClock(),
    logger: createLogger({ level: 'debug', destination }),
    resyncMs: opts.resyncMs,
    upstreamProbeMs: opts.upstreamProbeMs,
    diskSpace: opts.diskSpace,
    cluster: opts.cluster,
  });
  let stopped = false;
  return {
    dir,
    configFile,
    domain,
    routerPort,
    routerUrl: `http://${host}:${routerPort}`,
    adminUrl: daemon.adminUrl,
    daemon,
    logs,
    writeConfig,
    configFor,
    adminPort,
    async stop(o = {}) {
      if (stopped) return;
      stopped = true;
      await daemon.stop();
      if (!o.keepDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function adminJson<T = any>(rc: RunningRegcache, route: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(`${rc.adminUrl}${route}`, init);
  return { status: res.status, body: (await res.json()) as T };
}
