import http from 'node:http';
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, readdir, writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CacheSpec } from '../../../desired/cache-spec.js';
import type { Logger } from '../../../log.js';
import { writeFileAtomic } from '../../../util/atomic-write.js';
import type { Clock } from '../../../util/clock.js';
import type { CacheInstance, CacheRuntime, RuntimeEvent } from '../cache-runtime.js';
import { createPortBook, portBookFile, type PortBook } from '../port-book.js';
import { registryConfigYaml } from './registry-config.js';
import { findRecordedProcess, writeProcessRecord } from './process-record.js';
import { reapStaleProcess } from './stale-process.js';
import { createSupervisedProcess, type SupervisedProcess } from './supervisor.js';

export interface ProcessRuntimeOptions {
  dataDir: string;
  registryBinary: string;
  /** Shared with the reconciler (egress ports); a private one on the same file when absent. */
  ports?: PortBook;
  clock: Clock;
  logger: Logger;
  /**
   * Caches listen on unix sockets only nginx can reach (see socketDirectory) instead of loopback TCP
   * ports any local process could use. Off when nginx cannot see the daemon's files (nginx.container).
   */
  unixSockets?: boolean;
  /** Group of nginx's workers when the daemon runs as root (null: not root, workers run as the daemon). */
  workerGroup?: () => Promise<number | null>;
}

interface RunningCache {
  spec: CacheSpec;
  port: number;
  debugPort: number;
  /** The unix socket the cache listens on, or null for 127.0.0.1:port. */
  socket: string | null;
  process: SupervisedProcess;
  state: CacheInstance['state'];
  /** The pid file and record of its latest start, being written: a stop waits for them before removing both. */
  recordWrite: Promise<void>;
}

/** Layout under dataDir: caches/<slug> storage, run/<slug>/ config + pid, logs/<slug>.log. */
export function processRuntimePaths(dataDir: string, slug: string) {
  return {
    storage: path.join(dataDir, 'caches', slug),
    runDir: path.join(dataDir, 'run', slug),
    config: path.join(dataDir, 'run', slug, 'config.yml'),
    pidFile: path.join(dataDir, 'run', slug, 'registry.pid'),
    /** pid, start time, spec hash and ports: what a restarted daemon needs to adopt the running cache. */
    record: path.join(dataDir, 'run', slug, 'registry.json'),
    log: path.join(dataDir, 'logs', `${slug}.log`),
    socket: socketPath(dataDir, slug),
  };
}

/** Longest unix socket path Linux takes (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/** dataDir/sockets/<slug>.sock, or a short hash of the slug when that is too long; null when even that is. */
export function socketPath(dataDir: string, slug: string): string | null {
  const dir = path.join(dataDir, 'sockets');
  const byName = path.join(dir, `${slug}.sock`);
  if (byName.length <= MAX_SOCKET_PATH) return byName;
  const byHash = path.join(dir, `${createHash('sha256').update(slug).digest('hex').slice(0, 16)}.sock`);
  return byHash.length <= MAX_SOCKET_PATH ? byHash : null;
}

/**
 * The directory of the caches' sockets: the daemon's, and the nginx workers' group may enter it
 * (setgid, so each socket gets that group); nobody else. Connecting needs write on the socket, which
 * the registry creates with umask 007: owner and group only. Not root: workers run as the daemon, 0700.
 */
async function socketDirectory(dir: string, workerGroup: number | null): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (workerGroup !== null) {
    await chown(dir, 0, workerGroup);
    await chmod(dir, 0o2750);
  } else {
    await chmod(dir, 0o700);
  }
}

/**
 * A cache's storage root: the registry (umask 007) writes, the nginx workers' group reads blob hits
 * straight from it (setgid, so every directory and file below gets that group). Not root: unchanged.
 */
async function storageDirectory(dir: string, workerGroup: number | null): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (workerGroup === null) return;
  await chown(dir, 0, workerGroup);
  await chmod(dir, 0o2750);
}

/** Each cache is a supervised `registry serve` child process on its own loopback port. */
export function createProcessRuntime(opts: ProcessRuntimeOptions): CacheRuntime {
  const caches = new Map<string, RunningCache>();
  const listeners = new Set<(e: RuntimeEvent) => void>();
  const ports = opts.ports ?? createPortBook(portBookFile(opts.dataDir));
  const log = opts.logger.child({ component: 'process-runtime' });
  /** The one scan of run/ at start (every caller waits for it). */
  let reaping: Promise<void> | null = null;

  const emit = (event: RuntimeEvent) => listeners.forEach((l) => l(event));

  // A daemon killed with -9 (or upgraded) leaves its registries running. One that is still the
  // process we recorded and answers /v2/ is adopted with the spec it was started with; the plan then
  // keeps, replaces or removes it like any other. Anything else of ours under run/ is killed.
  const reapOnce = () => (reaping ??= adoptOrReap());
  const adoptOrReap = async () => {
    const runRoot = path.join(opts.dataDir, 'run');
    const slugs = await readdir(runRoot).catch(() => [] as string[]);
    for (const slug of slugs) {
      const p = processRuntimePaths(opts.dataDir, slug);
      const record = await findRecordedProcess(p.record, p.config);
      const spec = record ? recordedSpec(record, slug) : null;
      const socket = record && typeof record.socket === 'string' ? record.socket : null;
      if (record && spec && typeof record.port === 'number' && (await answersV2(socket ? `unix:${socket}` : `127.0.0.1:${record.port}`))) {
        const entry = supervise(spec, p, record.port, Number(record.debugPort), socket);
        caches.set(spec.name, entry);
        entry.state = 'running';
        entry.process.adopt(record.pid, record.start);
        log.info({ cache: spec.name, pid: record.pid }, 'adopted a running registry from an earlier run');
        continue;
      }
      if (await reapStaleProcess(p.pidFile, p.config)) log.warn({ cache: slug }, 'killed a registry left behind by an earlier run');
      await rm(p.record, { force: true });
    }
  };

  /** One registry under supervision: started by us, or adopted (then restarted by us when it dies). */
  const supervise = (
    spec: CacheSpec,
    p: ReturnType<typeof processRuntimePaths>,
    port: number,
    debugPort: number,
    socket: string | null,
  ): RunningCache => {
    const entry: RunningCache = {
      spec,
      port,
      debugPort,
      socket,
      state: 'starting',
      process: undefined as unknown as SupervisedProcess,
      recordWrite: Promise.resolve(),
    };
    entry.process = createSupervisedProcess({
      name: `registry ${spec.name}`,
      command: opts.registryBinary,
      args: ['serve', p.config],
      logFile: p.log,
      // The registry reads REGISTRY_* variables as config overrides; pass none of ours.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      // Its socket (and storage) for owner and group only; see socketDirectory.
      ...(socket ? { umask: 0o007 } : {}),
      clock: opts.clock,
      logger: log,
      onStart: (pid) => {
        // Spawned while being stopped: its record must not outlive the stop (the next spec's would lose).
        if (entry.state === 'stopped') return;
        entry.state = 'running';
        // No credentials: the adopting daemon needs to know what runs, not how it logs in.
        const { credentials: _secret, ...shape } = spec;
        entry.recordWrite = entry.recordWrite
          .then(() => Promise.all([writeFile(p.pidFile, `${pid}\n`), writeProcessRecord(p.record, pid, { spec: shape, port, debugPort, socket })]))
          .then(() => undefined)
          .catch(() => undefined);
        if (entry.process.restarts > 0) emit({ kind: 'restarted', name: spec.name, message: `restarted (restart #${entry.process.restarts})` });
      },
      onExit: ({ code, signal, willRestart }) => {
        if (!willRestart) return;
        entry.state = 'crashed';
        emit({ kind: 'exited', name: spec.name, message: `registry exited (${signal ?? `code ${code}`}); restarting` });
      },
    });
    return entry;
  };

  const toInstance = (c: RunningCache): CacheInstance => ({
    name: c.spec.name,
    specHash: c.spec.specHash,
    address: c.socket ? `unix:${c.socket}` : `127.0.0.1:${c.port}`,
    debugAddress: `127.0.0.1:${c.debugPort}`,
    state: c.state,
    restarts: c.process.restarts,
    lastError: c.process.lastError,
    offline: c.spec.offline,
  });

  const stopCache = async (c: RunningCache) => {
    c.state = 'stopped';
    await c.process.stop();
    await c.recordWrite;
    const p = processRuntimePaths(opts.dataDir, c.spec.slug);
    await rm(p.pidFile, { force: true });
    await rm(p.record, { force: true });
  };

  return {
    kind: 'process',
    async list() {
      await reapOnce();
      return [...caches.values()].map(toInstance);
    },
    async ensure(spec) {
      await reapOnce();
      const existing = caches.get(spec.name);
      if (existing && existing.spec.specHash === spec.specHash) return toInstance(existing);
      if (existing) {
        log.info({ cache: spec.name }, 'replacing cache: its spec changed');
        await stopCache(existing);
        caches.delete(spec.name);
      }
      const p = processRuntimePaths(opts.dataDir, spec.slug);
      const { port, debugPort } = await ports.portsFor(spec.name);
      const socket = opts.unixSockets ? p.socket : null;
      if (opts.unixSockets && !socket)
        log.warn({ cache: spec.name, dataDir: opts.dataDir }, 'dataDir is too long for a unix socket path: this cache listens on a loopback port');
      const workerGroup = socket ? ((await opts.workerGroup?.()) ?? null) : null;
      if (socket) await socketDirectory(path.dirname(socket), workerGroup);
      if (socket) await storageDirectory(p.storage, workerGroup);
      else await mkdir(p.storage, { recursive: true });
      // 0600: the file holds the upstream password.
      await writeFileAtomic(
        p.config,
        registryConfigYaml({
          spec,
          ...(socket ? { net: 'unix', addr: socket } : { addr: `127.0.0.1:${port}` }),
          debugAddr: `127.0.0.1:${debugPort}`,
          storageDir: p.storage,
        }),
        0o600,
      );
      const entry = supervise(spec, p, port, debugPort, socket);
      caches.set(spec.name, entry);
      entry.process.start();
      emit({ kind: 'started', name: spec.name, message: `registry started on ${socket ?? `127.0.0.1:${port}`}` });
      return toInstance(entry);
    },
    async remove(name) {
      const c = caches.get(name);
      if (!c) return;
      caches.delete(name);
      await stopCache(c);
      await ports.release(name);
      emit({ kind: 'exited', name, message: 'cache stopped: registry removed from config' });
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      await Promise.all([...caches.values()].map(stopCache));
      caches.clear();
    },
  };
}

/** The spec a recorded registry was started with (credentials are not recorded), or null when unreadable. */
function recordedSpec(record: Record<string, unknown>, slug: string): CacheSpec | null {
  const s = record.spec as Partial<CacheSpec> | undefined;
  if (!s || typeof s.name !== 'string' || typeof s.specHash !== 'string' || s.slug !== slug) return null;
  return {
    name: s.name,
    slug,
    upstream: String(s.upstream ?? ''),
    remoteUrl: String(s.remoteUrl ?? ''),
    credentials: null,
    offline: s.offline === true,
    specHash: s.specHash,
  };
}

/** distribution answers /v2/ with 200 (or 401 behind auth) once it serves. */
async function answersV2(address: string): Promise<boolean> {
  const target = address.startsWith('unix:')
    ? { socketPath: address.slice('unix:'.length) }
    : { host: address.split(':')[0], port: Number(address.split(':')[1]) };
  return new Promise((resolve) => {
    const req = http.get({ ...target, path: '/v2/', timeout: 2000, agent: false, headers: { host: 'localhost' } }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 || res.statusCode === 401);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
