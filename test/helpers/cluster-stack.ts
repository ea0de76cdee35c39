// compose/cluster-stack.yml deployed on a test Swarm (./swarm.ts) as a user would: the stack file and a
// registries.yaml copied to the manager, the cluster secret created there, `docker stack deploy` run
// by the manager's own CLI. Reads the tasks' state through `docker exec` (their admin API stays inside).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { waitFor } from './binaries.js';
import { docker } from './registry-image.js';
import type { Swarm, SwarmNode } from './swarm.js';
import { REPO_ROOT } from '../integration/container/images.js';

export const STACK = 'regcache';
const SERVICE = `${STACK}_regcache`;

export interface ClusterTask {
  node: string;
  container: string;
}

export interface ClusterStack {
  /** The running task of every node that has one. */
  tasks(): Promise<ClusterTask[]>;
  /** GET on a task's admin API (from inside the task). */
  admin(node: SwarmNode, path: string): Promise<{ status: number; text: string }>;
  /** The image of every node's running task (undefined: none running). */
  images(): Promise<Array<string | undefined>>;
  /** GET of any URL from inside a node's task (on the stack's overlay network). */
  fetchFromTask(node: SwarmNode, url: string): Promise<{ status: number; text: string }>;
  /** Every node runs a task that is ready and reaches the upstream. */
  waitConverged(timeoutMs?: number): Promise<void>;
  /** Every node's task (or those of `nodes`) sees the same `count` peers, all up. */
  waitMembership(count: number, opts?: { nodes?: SwarmNode[]; timeoutMs?: number }): Promise<void>;
  remove(): Promise<void>;
}

export interface ClusterStackOptions {
  image: string;
  domain: string;
  registries: Record<string, unknown>;
  /** Extra keys of the `cluster` section. */
  cluster?: Record<string, unknown>;
  /** Pause between two nodes of a rolling update (the stack's REGCACHE_UPDATE_DELAY; 20s). */
  updateDelay?: string;
}

/** The registries.yaml of the test: the shipped one's cluster section, the test's registries. */
export function clusterConfig(opts: ClusterStackOptions): string {
  return stringify({
    domain: opts.domain,
    listen: '5000',
    admin: { listen: '127.0.0.1:8080' },
    runtime: 'process',
    dataDir: '/var/lib/regcache',
    cluster: { listen: '0.0.0.0:5001', peers: 'dns:tasks.regcache:5001', secretFile: '/run/secrets/regcache_cluster', ...(opts.cluster ?? {}) },
    registries: opts.registries,
  });
}

export async function deployClusterStack(swarm: Swarm, opts: ClusterStackOptions): Promise<ClusterStack> {
  const manager = swarm.manager;
  const work = await mkdtemp(join(tmpdir(), 'regcache-cluster-stack-'));
  try {
    await writeFile(join(work, 'registries.yaml'), clusterConfig(opts));
    await docker(['exec', manager.name, 'mkdir', '-p', '/stack']);
    await docker(['cp', join(REPO_ROOT, 'compose', 'cluster-stack.yml'), `${manager.name}:/stack/cluster-stack.yml`]);
    await docker(['cp', join(work, 'registries.yaml'), `${manager.name}:/stack/registries.yaml`]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await manager.docker(['secret', 'create', 'regcache_cluster_secret', '-'], { input: randomBytes(32).toString('hex') });
  // prettier-ignore
  await docker([
    'exec', '-w', '/stack',
    '-e', `REGCACHE_IMAGE=${opts.image}`, '-e', 'REGCACHE_CONFIG_FILE=/stack/registries.yaml', '-e', `REGCACHE_DOMAIN=${opts.domain}`,
    '-e', `REGCACHE_UPDATE_DELAY=${opts.updateDelay ?? '20s'}`,
    manager.name, 'docker', 'stack', 'deploy', '--resolve-image', 'never', '-c', 'cluster-stack.yml', STACK,
  ]);

  const taskOf = async (node: SwarmNode): Promise<string | undefined> =>
    (await node.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${SERVICE}`])).trim().split('\n')[0] || undefined;

  const fetchFromTask = async (node: SwarmNode, url: string) => {
    const task = await taskOf(node);
    if (!task) throw new Error(`no running ${SERVICE} task on ${node.name}`);
    const script = `fetch(${JSON.stringify(url)}).then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())))`;
    const out = await node.docker(['exec', task, 'node', '-e', script]);
    const nl = out.indexOf('\n');
    return { status: Number(out.slice(0, nl)), text: out.slice(nl + 1) };
  };
  const admin = (node: SwarmNode, path: string) => fetchFromTask(node, `http://127.0.0.1:8080${path}`);

  const stack: ClusterStack = {
    async tasks() {
      const found = await Promise.all(swarm.nodes.map(async (n) => ({ node: n.name, container: await taskOf(n).catch(() => undefined) })));
      return found.filter((t): t is ClusterTask => t.container !== undefined);
    },
    admin,
    fetchFromTask,
    async images() {
      return Promise.all(
        swarm.nodes.map(async (node) => {
          const task = await taskOf(node).catch(() => undefined);
          return task ? (await node.docker(['inspect', '--format', '{{.Config.Image}}', task]).catch(() => '')).trim() || undefined : undefined;
        }),
      );
    },
    async waitConverged(timeoutMs = 180_000) {
      const last = new Map<string, string>();
      await waitFor(
        async () => {
          const ready = await Promise.all(
            swarm.nodes.map(async (node) => {
              try {
                const r = await admin(node, '/readyz');
                const v = await admin(node, '/api/v1/vhosts');
                last.set(node.name, `readyz ${r.status}; vhosts ${v.status} ${v.text.slice(0, 300)}`);
                if (r.status !== 200 || v.status !== 200) return false;
                const list = (JSON.parse(v.text) as { vhosts: Array<{ upstreamReachable: boolean | null }> }).vhosts;
                return list.length > 0 && list.every((x) => x.upstreamReachable === true);
              } catch (err) {
                last.set(node.name, (err as Error).message.slice(0, 300));
                return false;
              }
            }),
          );
          return ready.every(Boolean);
        },
        { timeoutMs, intervalMs: 1000, what: `a ready ${SERVICE} task on each of ${swarm.nodes.length} nodes` },
      ).catch(async (err: Error) => {
        const ps = await manager
          .docker(['service', 'ps', '--no-trunc', '--format', '{{.Node}} {{.CurrentState}} {{.Error}}', SERVICE])
          .catch((e: Error) => e.message);
        throw new Error(`${err.message}; last answers: ${JSON.stringify(Object.fromEntries(last))}; service ps:\n${ps}`);
      });
    },
    async waitMembership(count, { nodes = swarm.nodes, timeoutMs = 90_000 } = {}) {
      const last = new Map<string, string>();
      await waitFor(
        async () => {
          const views = await Promise.all(
            nodes.map(async (node) => {
              const res = await admin(node, '/api/v1/status');
              last.set(node.name, res.text.slice(0, 500));
              const peers = clusterPeers(JSON.parse(res.text));
              return (
                peers.length === count &&
                peers.every((p) => p.up) &&
                peers
                  .map((p) => p.address)
                  .sort()
                  .join(' ')
              );
            }),
          );
          // The same ring everywhere: every node lists the same peers.
          return views.every((v) => v && v === views[0]);
        },
        { timeoutMs, intervalMs: 1000, what: `${count} peers up on every node` },
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last status: ${JSON.stringify(Object.fromEntries(last))}`);
      });
    },
    async remove() {
      await manager.docker(['stack', 'rm', STACK]).catch(() => undefined);
    },
  };
  return stack;
}

/** The peers in a node's /api/v1/status (the cluster section). */
export function clusterPeers(status: unknown): Array<{ address: string; self: boolean; up: boolean }> {
  const cluster = (status as { cluster?: { peers?: Array<{ address: string; self: boolean; up: boolean }> } }).cluster;
  if (!cluster?.peers) throw new Error('/api/v1/status has no cluster.peers');
  return cluster.peers;
}

/**
 * Blob GETs in a registry's access log lines, by the client address (first field) that sent them.
 * Paths without query string.
 */
export function upstreamFetchesBySource(lines: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of lines) {
    const m = /^(\S+) \S+ \S+ \[[^\]]+\] "GET (\S+) [^"]*" 200 /.exec(line);
    if (!m || !m[2]!.includes('/blobs/')) continue;
    const source = m[1]!.replace(/:\d+$/, '');
    const path = m[2]!.split('?')[0]!;
    out.set(source, [...(out.get(source) ?? []), path]);
  }
  return out;
}
