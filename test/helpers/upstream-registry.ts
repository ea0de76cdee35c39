// A real, local "upstream" registry: Debian's docker-registry (distribution 2.8)
// on 127.0.0.1 with filesystem storage in a fresh temp dir.
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { findFreePort, requireBinary, waitFor } from './binaries.js';
import { releaseTempDir, spawnTracked, stopChildAndDir, trackTempDir } from './child-cleanup.js';
import type { TestImage, TestIndex } from './image.js';
import { pushImage, type BasicAuth } from './push.js';

export interface UpstreamRequest {
  method: string;
  /** Request path without query string. */
  path: string;
  /** Path plus query string, as received. */
  uri: string;
  status: number;
}

export interface UpstreamRegistry {
  /** http://127.0.0.1:PORT (or the `host` it was started on) */
  url: string;
  port: number;
  /** "127.0.0.1:PORT" (or the `host` it was started on), the reference host for skopeo/containerd. */
  host: string;
  /** Temp dir holding config, htpasswd and storage (removed by stop()). */
  dir: string;
  /** Credentials when started with htpasswd auth. */
  auth?: BasicAuth;
  /** Requests logged so far. Logging trails the response: see settledRequests(). */
  requests(): UpstreamRequest[];
  /** Waits until every request completed before this call is logged (requests() and output()), then returns requests(). */
  settledRequests(): Promise<UpstreamRequest[]>;
  /** Forgets recorded requests (await settledRequests() first to not leak late lines into the next phase). */
  clearRequests(): void;
  /** Raw stdout (access log) + stderr (JSON log) lines, including log-sentinel requests. */
  output(): string[];
  /** SIGKILL the registry (simulates an upstream crash); the dir is kept until stop(). */
  kill(): Promise<void>;
  /** SIGTERM, wait for exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartUpstreamOptions {
  htpasswd?: BasicAuth;
  /**
   * Blob GETs answer 307 to this base URL + the blob's storage path (distribution's redirect
   * middleware), as Docker Hub, ghcr.io and quay.io send blobs to a CDN. Serve `dataDir` there.
   */
  redirectTo?: string;
  /** Fixed port; default is a free one (retried if it gets taken meanwhile). */
  port?: number;
  /** Address to listen on (127.0.0.1); e.g. the gateway of a test network whose containers must reach it. */
  host?: string;
}

// The access log (gorilla CombinedLoggingHandler, on stdout) is the request
// source because, measured on 2.8.2, it is the only one with exactly one line
// per request. The JSON "response completed[ with error]" entries on stderr
// miss: 401 auth challenges, 405 method-not-allowed, and router-level 404s
// (paths outside the v2 API, invalid repository names). Lines trail the
// response (an 8 MB blob GET was not yet logged when the client had it 17/20
// times), hence settledRequests().
const ACCESS_LOG_LINE = /^\S+ \S+ \S+ \[[^\]]+\] "(\S+) (\S+) [^"]*" (\d{3}) /;
// Log sentinel: a manifest 404 (or 401 with auth). Either way it is logged on
// both streams, after every request completed before it.
const SENTINEL_PREFIX = '/v2/regcache-log-sentinel/manifests/';
const BIND_RACE = /address already in use/;

export function parseAccessLogLine(line: string): UpstreamRequest | undefined {
  const m = ACCESS_LOG_LINE.exec(line);
  if (!m) return undefined;
  const [, method, uri, status] = m;
  const q = uri.indexOf('?');
  return { method, uri, path: q === -1 ? uri : uri.slice(0, q), status: Number(status) };
}

function jsonLogUri(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const uri: unknown = JSON.parse(line)['http.request.uri'];
    return typeof uri === 'string' ? uri : undefined;
  } catch {
    return undefined;
  }
}

async function htpasswdLine(auth: BasicAuth): Promise<string> {
  // distribution 2.8 only accepts bcrypt entries.
  const bin = requireBinary(['htpasswd']);
  const { stdout } = await promisify(execFile)(bin, ['-nbB', auth.username, auth.password]);
  return stdout.trim() + '\n';
}

/** Where the upstream keeps its filesystem storage (the CDN root for redirectTo). */
/** Blob GETs per digest among `requests`. */
export function blobGetCounts(requests: readonly UpstreamRequest[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of requests) {
    const m = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.path);
    if (r.method === 'GET' && m) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  }
  return counts;
}

export function upstreamDataDir(dir: string): string {
  return join(dir, 'data');
}

function registryConfig(dir: string, port: number, withAuth: boolean, opts: StartUpstreamOptions): string {
  const config = {
    version: '0.1',
    log: { level: 'info', formatter: 'json', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: upstreamDataDir(dir) },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: `${opts.host ?? '127.0.0.1'}:${port}`, secret: randomBytes(16).toString('hex') },
    ...(opts.redirectTo ? { middleware: { storage: [{ name: 'redirect', options: { baseurl: opts.redirectTo } }] } } : {}),
    ...(withAuth ? { auth: { htpasswd: { realm: 'regcache-test-upstream', path: join(dir, 'htpasswd') } } } : {}),
  };
  return JSON.stringify(config, null, 2); // JSON is valid YAML; avoids hand-quoting.
}

/** Environment without REGISTRY_* variables, which distribution would apply as config overrides. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
}

/** Resolves once the child is gone and its stdio is drained. Call right after spawn. */
function closed(child: ChildProcess, lines: string[]): Promise<void> {
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (err) => {
      lines.push(`spawn error: ${err.message}`);
      resolve();
    });
  });
}

export async function startUpstreamRegistry(opts: StartUpstreamOptions = {}): Promise<UpstreamRegistry> {
  const bin = requireBinary(['registry', 'docker-registry'], 'REGCACHE_REGISTRY_BIN');
  const dir = await mkdtemp(join(tmpdir(), 'regcache-upstream-'));
  trackTempDir(dir);
  try {
    if (opts.htpasswd) await writeFile(join(dir, 'htpasswd'), await htpasswdLine(opts.htpasswd));
    for (let attempt = 1; ; attempt++) {
      const port = opts.port ?? (await findFreePort(opts.host));
      try {
        return await launch(bin, dir, port, opts);
      } catch (err) {
        const retry = opts.port === undefined && attempt < 5 && err instanceof Error && BIND_RACE.test(err.message);
        if (!retry) throw err;
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    releaseTempDir(dir);
    throw err;
  }
}

async function launch(bin: string, dir: string, port: number, opts: StartUpstreamOptions): Promise<UpstreamRegistry> {
  const auth = opts.htpasswd;
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, registryConfig(dir, port, auth !== undefined, opts));
  const child = spawnTracked(bin, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });

  const lines: string[] = [];
  const exitedPromise = closed(child, lines);
  let recorded: UpstreamRequest[] = [];
  const sentinelsSeen = new Set<string>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    const req = parseAccessLogLine(line);
    if (!req) return;
    if (req.path.startsWith(SENTINEL_PREFIX)) sentinelsSeen.add(`stdout ${req.path}`);
    else recorded.push(req);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    lines.push(line);
    const uri = jsonLogUri(line);
    if (uri?.startsWith(SENTINEL_PREFIX)) sentinelsSeen.add(`stderr ${uri}`);
  });

  const host = `${opts.host ?? '127.0.0.1'}:${port}`;
  const url = `http://${host}`;
  let stopped = false;
  let sentinelCounter = 0;

  // Stdout and stderr are separate pipes, so wait for the sentinel on both.
  // Seeing it also proves *our* process owns the port. Filtered out of requests().
  const logSentinel = async (timeoutMs: number): Promise<void> => {
    const path = `${SENTINEL_PREFIX}n${++sentinelCounter}`;
    await (await fetch(url + path)).arrayBuffer();
    await waitFor(async () => sentinelsSeen.has(`stdout ${path}`) && sentinelsSeen.has(`stderr ${path}`), {
      timeoutMs,
      what: `registry log lines for ${path}`,
    });
  };

  const registry: UpstreamRegistry = {
    url,
    port,
    host,
    dir,
    auth,
    requests: () => recorded.slice(),
    async settledRequests() {
      await logSentinel(5000);
      return recorded.slice();
    },
    clearRequests: () => {
      recorded = [];
    },
    output: () => lines.slice(),
    async kill() {
      child.kill('SIGKILL');
      await exitedPromise;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopChildAndDir(child, exitedPromise, dir, 5000);
    },
  };

  const ready = waitFor(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) return true; // `died` reports it
      await logSentinel(1000);
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      return res.status === 200 || res.status === 401;
    },
    { timeoutMs: 15_000, intervalMs: 50, what: `docker-registry on ${url} to serve /v2/` },
  );
  const died = exitedPromise.then(() => {
    throw new Error(`docker-registry exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${lines.join('\n')}`);
  });
  try {
    await Promise.race([ready, died]);
    if (child.exitCode !== null || child.signalCode !== null) await died;
  } catch (err) {
    child.kill('SIGKILL');
    await exitedPromise;
    throw err;
  }
  died.catch(() => {}); // later exits (stop/kill) are expected
  await registry.settledRequests();
  registry.clearRequests(); // drop the readiness probes
  return registry;
}

/** Pushes each image, using the upstream's own credentials when it has auth. */
export async function seedUpstream(
  upstream: UpstreamRegistry,
  images: Array<{ repository: string; tag: string; image: TestImage | TestIndex }>,
): Promise<void> {
  for (const { repository, tag, image } of images) {
    await pushImage(upstream.url, repository, tag, image, { auth: upstream.auth });
  }
}
