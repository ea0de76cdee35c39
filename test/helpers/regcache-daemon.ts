// The real regcache daemon (process runtime: real nginx and registry children), started in-process
// with a config in a temp dir, on free loopback ports.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { createSystemClock } from '../../src/util/clock.js';
import { findFreePort } from './binaries.js';
import { releaseTempDir, trackTempDir } from './child-cleanup.js';

export interface AccessLogEntry {
  vhost: string;
  host: string;
  method: string;
  uri: string;
  status: number;
}

export interface RunningRegcache {
  daemon: Daemon;
  dir: string;
  configPath: string;
  domain: string;
  /** The router's port on 127.0.0.1. */
  port: number;
  adminUrl: string;
  /** nginx's JSON access log, parsed. */
  accessLog(): Promise<AccessLogEntry[]>;
  stop(): Promise<void>;
}

/** `registries` maps a registry name to its upstream URL. */
export async function startRegcache(domain: string, registries: Record<string, string>): Promise<RunningRegcache> {
  const dir = await mkdtemp(join(tmpdir(), 'regcache-daemon-'));
  trackTempDir(dir);
  const port = await findFreePort();
  const adminPort = await findFreePort();
  const configPath = join(dir, 'registries.yaml');
  const lines = [
    `domain: ${domain}`,
    `listen: "127.0.0.1:${port}"`,
    `admin:`,
    `  listen: "127.0.0.1:${adminPort}"`,
    'runtime: process',
    'dataDir: ./data',
    'registries:',
    ...Object.entries(registries).flatMap(([name, upstream]) => [`  ${name}:`, `    upstream: ${upstream}`]),
  ];
  await writeFile(configPath, lines.join('\n') + '\n');
  const logger = createLogger({ level: 'info', destination: pino.destination({ dest: join(dir, 'regcache.log'), sync: true }) });
  let daemon: Daemon;
  try {
    daemon = await startDaemon({ configPath, env: process.env, clock: createSystemClock(), logger });
  } catch (err) {
    const log = await readFile(join(dir, 'regcache.log'), 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    releaseTempDir(dir);
    throw new Error(`regcache did not start: ${(err as Error).message}\n${log}`);
  }
  return {
    daemon,
    dir,
    configPath,
    domain,
    port,
    adminUrl: daemon.adminUrl,
    async accessLog() {
      const text = await readFile(join(dir, 'data', 'nginx', 'logs', 'access.log'), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as AccessLogEntry);
    },
    async stop() {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
      releaseTempDir(dir);
    },
  };
}
