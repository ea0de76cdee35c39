// What every container test needs around the regcache container: a seeded upstream registry, the
// registries.yaml a user would mount, and a real client (containerd's ctr) that can pull only through
// the cache.
//
// Two network setups:
// - host: the container uses host networking, so 127.0.0.1 inside it is this machine's loopback and the
//   upstream is the usual registry process on 127.0.0.1 (docker run);
// - bridge: regcache runs on its own network as compose and Swarm put it, with published ports; the
//   upstream is then a registry:2 container on that network (service `upstream`, at http://upstream:5000)
//   serving a copy of the seeded storage, and its requests are read from its access log.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { findFreePort, waitFor } from '../../helpers/binaries.js';
import { startContainerd, type Containerd } from '../../helpers/containerd.js';
import { generateImage, type TestImage } from '../../helpers/image.js';
import { docker, REGISTRY_IMAGE } from '../../helpers/registry-image.js';
import { REPO_ROOT } from './images.js';
import { parseAccessLogLine, seedUpstream, startUpstreamRegistry, upstreamDataDir, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

/** The registry the tests cache; not resolvable, so a client's fallback to the upstream itself fails. */
export const REGISTRY = 'alpha.test';
export const REPOSITORY = 'team/app';
export const CONTAINER_UPSTREAM_URL = 'http://upstream:5000';

export type NetworkSetup = 'host' | 'bridge';

export interface ContainerFixture {
  id: string;
  dir: string;
  network: NetworkSetup;
  image: TestImage;
  /** Host port clients pull from (bridge: the published port, on 127.0.0.1). */
  routerPort: number;
  /** Host port of the admin API (bridge: the published port, when the deployment publishes it). */
  adminPort: number;
  /** Directory holding the registries.yaml to mount. */
  configDir: string;
  /** bridge: the seeded storage the upstream container serves (mount at /var/lib/registry). */
  upstreamStorage: string;
  /** Pulls REGISTRY/REPOSITORY:v1 with a fresh containerd through the cache; returns the manifest digest. */
  pull(): Promise<string>;
  /** Upstream blob GETs since the last forgetUpstreamRequests(). */
  upstreamBlobGets(): Promise<string[]>;
  forgetUpstreamRequests(): Promise<void>;
  /** bridge: where the upstream container and a container that can reach it (for log sentinels) are. */
  locateUpstream(find: () => Promise<{ upstream: string; neighbour: string }>): void;
  waitReady(timeoutMs?: number): Promise<void>;
  cleanup(): Promise<void>;
}

/** The config a user would write for the image, pointing at the test upstream. */
export function containerConfig(opts: {
  network: NetworkSetup;
  upstream: string;
  routerPort: number;
  adminPort: number;
  extra?: Record<string, unknown>;
  /** Top-level keys replacing the defaults (runtime, nginx, docker, …). */
  top?: Record<string, unknown>;
}): string {
  const host = opts.network === 'host';
  return stringify({
    domain: 'regcache.test',
    listen: host ? `127.0.0.1:${opts.routerPort}` : '5000',
    // bridge: all of the container's interfaces, so a published port reaches it.
    admin: { listen: host ? `127.0.0.1:${opts.adminPort}` : '0.0.0.0:8080' },
    runtime: 'process',
    dataDir: '/var/lib/regcache',
    registries: { [REGISTRY]: { upstream: opts.upstream, ...(opts.extra ?? {}) } },
    ...(opts.top ?? {}),
  });
}

/** The `upstream` service for compose and stack files (bridge setup). */
export function upstreamService(storage: string): Record<string, unknown> {
  return { image: REGISTRY_IMAGE, volumes: [`${storage}:/var/lib/registry`] };
}

export type AdminClient = (path: string) => Promise<{ status: number; text: string }>;

function adminOnHost(port: number, token?: string): AdminClient {
  return async (path) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, text: await res.text() };
  };
}

/** The admin API from inside a container (its admin port is not published), with the image's node. */
export function adminInContainer(container: () => Promise<string>, port = 8080): AdminClient {
  return async (path) => {
    const script = `fetch('http://127.0.0.1:${port}${path}').then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())))`;
    const out = await docker(['exec', await container(), 'node', '-e', script]);
    const nl = out.indexOf('\n');
    return { status: Number(out.slice(0, nl)), text: out.slice(nl + 1) };
  };
}

/** Requests in a registry container's access log (its stdout). */
async function containerAccessLog(container: string): Promise<Array<{ method: string; path: string }>> {
  const out = await docker(['logs', container]);
  return out
    .split('\n')
    .map((l) => parseAccessLogLine(l))
    .filter((r) => r !== undefined);
}

export async function createContainerFixture(
  name: string,
  opts: {
    network: NetworkSetup;
    registryExtra?: Record<string, unknown>;
    configTop?: Record<string, unknown>;
    adminToken?: string;
    /** How to reach the admin API; default: the host's 127.0.0.1:adminPort. */
    admin?: AdminClient;
  },
): Promise<ContainerFixture> {
  const id = randomBytes(3).toString('hex');
  const dir = await mkdtemp(join(tmpdir(), `regcache-${name}-`));
  const image = generateImage({ seed: `container-${name}-${id}`, layers: [2048, 300_000] });
  const seeded: UpstreamRegistry = await startUpstreamRegistry();
  await seedUpstream(seeded, [{ repository: REPOSITORY, tag: 'v1', image }]);
  await seeded.settledRequests();
  seeded.clearRequests();
  const upstreamStorage = join(dir, 'upstream-storage');
  let hostUpstream: UpstreamRegistry | null = seeded;
  if (opts.network === 'bridge') {
    await cp(upstreamDataDir(seeded.dir), upstreamStorage, { recursive: true });
    await seeded.stop();
    hostUpstream = null;
  }
  const routerPort = await findFreePort();
  const adminPort = await findFreePort();
  const configDir = join(dir, 'config');
  await mkdir(configDir, { recursive: true });
  await writeFile(
    join(configDir, 'registries.yaml'),
    containerConfig({
      network: opts.network,
      upstream: hostUpstream?.url ?? CONTAINER_UPSTREAM_URL,
      routerPort,
      adminPort,
      extra: opts.registryExtra,
      top: opts.configTop,
    }),
  );
  // containerd: the mirror first (it adds ?ns=alpha.test, which the router routes by), then the
  // unresolvable registry itself, so a pull that does not come through the cache fails.
  const hostsDir = join(dir, 'certs.d');
  await mkdir(join(hostsDir, REGISTRY), { recursive: true });
  await writeFile(
    join(hostsDir, REGISTRY, 'hosts.toml'),
    `server = "https://${REGISTRY}"\n\n[host."http://127.0.0.1:${routerPort}"]\n  capabilities = ["pull", "resolve"]\n`,
  );

  let locate: (() => Promise<{ upstream: string; neighbour: string }>) | null = null;
  let sentinels = 0;
  let forgotten = new Map<string, number>(); // upstream container -> access log lines already seen
  /** The upstream container's requests, after a sentinel request sent through its network shows up in its log. */
  const containerRequests = async (): Promise<{ container: string; requests: Array<{ method: string; path: string }> }> => {
    if (!locate) throw new Error('bridge fixture: locateUpstream() was not called');
    const { upstream, neighbour } = await locate();
    const path = `/v2/regcache-log-sentinel/manifests/n${++sentinels}`;
    await docker(['exec', neighbour, 'node', '-e', `fetch('${CONTAINER_UPSTREAM_URL}${path}').then((r) => r.arrayBuffer())`]);
    const requests = await waitFor(
      async () => {
        const log = await containerAccessLog(upstream);
        return log.some((r) => r.path === path) && log;
      },
      { timeoutMs: 10_000, what: `the sentinel ${path} in the upstream container's log` },
    );
    return { container: upstream, requests };
  };

  const admin = opts.admin ?? adminOnHost(adminPort, opts.adminToken);
  let pulls = 0;
  return {
    id,
    dir,
    network: opts.network,
    image,
    routerPort,
    adminPort,
    configDir,
    upstreamStorage,
    async pull() {
      // A fresh containerd each time: nothing of an earlier pull is in its content store.
      const containerd: Containerd = await startContainerd();
      try {
        const ref = `${REGISTRY}/${REPOSITORY}:v1`;
        const ns = `pull${++pulls}`;
        await containerd.ctr(['--namespace', ns, 'images', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, ref]);
        return await containerd.imageDigest(ns, ref);
      } finally {
        await containerd.stop();
      }
    },
    async upstreamBlobGets() {
      const isBlobGet = (r: { method: string; path: string }) => r.method === 'GET' && r.path.includes('/blobs/');
      if (hostUpstream) return (await hostUpstream.settledRequests()).filter(isBlobGet).map((r) => r.path);
      const { container, requests } = await containerRequests();
      return requests
        .slice(forgotten.get(container) ?? 0)
        .filter(isBlobGet)
        .map((r) => r.path);
    },
    async forgetUpstreamRequests() {
      if (hostUpstream) {
        await hostUpstream.settledRequests();
        hostUpstream.clearRequests();
        return;
      }
      const { container, requests } = await containerRequests();
      forgotten = new Map([[container, requests.length]]);
    },
    locateUpstream(find) {
      locate = find;
    },
    async waitReady(timeoutMs = 90_000) {
      let last = '';
      await waitFor(
        async () => {
          const ready = await admin('/readyz');
          const vhosts = await admin('/api/v1/vhosts');
          last = `readyz ${ready.status} ${ready.text}; vhosts ${vhosts.status} ${vhosts.text}`;
          if (ready.status !== 200 || vhosts.status !== 200) return false;
          const list = (JSON.parse(vhosts.text) as { vhosts: Array<{ upstreamReachable: boolean | null }> }).vhosts;
          // Ready, and a pull-through cache (not offline): it reached the upstream.
          return list.length > 0 && list.every((v) => v.upstreamReachable === true);
        },
        { timeoutMs, intervalMs: 500, what: `regcache in the container to be ready` },
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last answer: ${last}`);
      });
    },
    async cleanup() {
      await hostUpstream?.stop();
      // The upstream container wrote into the storage as root; the tests run as root too.
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ContainerState {
  running: boolean;
  exitCode: number;
  health: string | null;
  user: string;
}

export async function containerState(nameOrId: string): Promise<ContainerState> {
  const [c] = JSON.parse(await docker(['inspect', '--type', 'container', nameOrId]));
  return { running: c.State.Running, exitCode: c.State.ExitCode, health: c.State.Health?.Status ?? null, user: c.Config.User };
}

/** UIDs of the container's processes, as the host's ps sees them (docker top). */
export async function processUids(nameOrId: string): Promise<Array<{ uid: string; command: string }>> {
  const out = await docker(['top', nameOrId, '-eo', 'pid,uid,comm']);
  return out
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => {
      const [, uid, ...rest] = line.trim().split(/\s+/);
      return { uid: uid!, command: rest.join(' ') };
    });
}

const runFile = promisify(execFile);

/**
 * Runs Debian's docker-compose on a shipped compose file plus a second file that adds the test's
 * upstream registry as a service on the project's network, as one project. The variables
 * .env.example documents point at the fixture (config dir, ports) and `image`; `env` adds more.
 * The fixture finds its upstream through the project's containers.
 */
export async function composeWithUpstream(
  fx: ContainerFixture,
  opts: { bin: string; project: string; file: string; image: string; env?: Record<string, string> },
): Promise<(args: string[]) => Promise<string>> {
  const override = join(fx.dir, 'upstream.yml');
  await writeFile(override, stringify({ services: { upstream: upstreamService(fx.upstreamStorage), regcache: { depends_on: ['upstream'] } } }));
  const env = {
    ...process.env,
    REGCACHE_IMAGE: opts.image,
    REGCACHE_CONFIG_DIR: fx.configDir,
    REGCACHE_PORT: `127.0.0.1:${fx.routerPort}`,
    REGCACHE_ADMIN_PORT: String(fx.adminPort),
    ...opts.env,
  };
  const compose = composeRunner({ ...opts, override, env });
  const containerOf = composeContainerOf(compose, () => opts.project);
  fx.locateUpstream(async () => ({ upstream: await containerOf('upstream'), neighbour: await containerOf('regcache') }));
  return compose;
}

function composeRunner(opts: { bin: string; project: string; file: string; override: string; env: NodeJS.ProcessEnv }) {
  return async (args: string[]): Promise<string> => {
    const argv = ['-p', opts.project, '-f', join(REPO_ROOT, opts.file), '-f', opts.override, ...args];
    try {
      return (await runFile(opts.bin, argv, { env: opts.env, timeout: 180_000, maxBuffer: 16 << 20 })).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`docker-compose ${args.join(' ')} failed: ${e.stderr || e.message}`);
    }
  };
}

/** The container id of a compose service, or an error naming it. */
export function composeContainerOf(compose: (args: string[]) => Promise<string>, project: () => string) {
  return async (service: string): Promise<string> => {
    const id = (await compose(['ps', '-q', service])).trim();
    if (!id) throw new Error(`no container for service ${service} in project ${project()}`);
    return id;
  };
}
