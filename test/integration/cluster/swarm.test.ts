// The shipped compose/cluster-stack.yml on a real three-node Swarm (nested engines, test/helpers/swarm.ts):
// one regcache task per node, peers found through `dns:tasks.regcache:5001`, the shared secret as a Docker
// secret. The upstream is a registry process on this machine, on the node network's gateway; which node
// fetched a blob is read from the source address in its access log (a task's traffic leaves through
// its node's address).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { startContainerd } from '../../helpers/containerd.js';
import { generateImage } from '../../helpers/image.js';
import { pullImage, type PullTarget } from '../../helpers/registry-pull.js';
import { startSwarm, type Swarm, type SwarmNode } from '../../helpers/swarm.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';
import { ensureRegcacheImage, REPO_ROOT } from '../container/images.js';
import { clusterPeers, deployClusterStack, upstreamFetchesBySource, type ClusterStack } from '../../helpers/cluster-stack.js';

const REGISTRY = 'alpha.test';
const DOMAIN = 'regcache.test';
const VHOST = `${REGISTRY}.${DOMAIN}`;

describe('regcache cluster on a three-node Swarm (compose/cluster-stack.yml)', () => {
  let swarm: Swarm;
  let upstream: UpstreamRegistry;
  let stack: ClusterStack;
  let image = '';
  const app = generateImage({ seed: `swarm-app-${randomBytes(4).toString('hex')}`, layers: [300_000, 200_000, 100_000] });
  // Many small blobs: enough keys to see how the ring splits them.
  const many = generateImage({ seed: `swarm-many-${randomBytes(4).toString('hex')}`, layers: Array.from({ length: 149 }, () => 512) });
  const during = generateImage({ seed: `swarm-loss-${randomBytes(4).toString('hex')}`, layers: Array.from({ length: 30 }, () => 4096) });
  const target = (node: SwarmNode): PullTarget => ({ address: node.address, port: 5000, vhost: VHOST });

  beforeAll(async () => {
    const built = Date.now();
    image = await ensureRegcacheImage();
    console.log(`regcache image ready in ${Date.now() - built} ms`);
    swarm = await startSwarm();
    await swarm.loadImage(image);
    upstream = await startUpstreamRegistry({ host: swarm.gateway });
    await seedUpstream(upstream, [
      { repository: 'team/app', tag: 'v1', image: app },
      { repository: 'team/many', tag: 'v1', image: many },
      { repository: 'team/during', tag: 'v1', image: during },
    ]);
    const deployed = Date.now();
    // A short pause between nodes in the rolling update (the stack's default is 20 s).
    stack = await deployClusterStack(swarm, { image, registries: { [REGISTRY]: { upstream: upstream.url } }, domain: DOMAIN, updateDelay: '3s' });
    await stack.waitConverged();
    // Pulls start on one ring: with two views of it, two owners could each fetch a blob.
    await stack.waitMembership(swarm.nodes.length);
    console.log(`stack deployed, every node ready with ${swarm.nodes.length} peers, in ${Date.now() - deployed} ms`);
    await upstream.settledRequests();
    upstream.clearRequests();
  }, 600_000);

  afterAll(async () => {
    console.log(`swarm setup timings (ms): ${JSON.stringify(swarm?.timings)}`);
    // What the upstream answered (its access log), for a failure's report.
    if (upstream) {
      await mkdir(join(REPO_ROOT, 'test', 'artifacts'), { recursive: true });
      await writeFile(join(REPO_ROOT, 'test', 'artifacts', 'swarm-upstream.log'), upstream.output().join('\n'));
    }
    await upstream?.stop();
    await swarm?.teardown();
  });

  it('runs one task on every node, each ready', async () => {
    const tasks = await stack.tasks();
    expect(tasks.map((t) => t.node).sort()).toEqual(swarm.nodes.map((n) => n.name).sort());
  });

  it('keeps the peer listener off the node network, and shut to requests without the secret', async () => {
    const first = swarm.nodes[0]!;
    // Only port 5000 is published: nothing listens on the node's own address at the peer port.
    const refused = await new Promise<string>((done) => {
      const socket = connect({ host: first.address, port: 5001 });
      socket.once('connect', () => (socket.destroy(), done('connected')));
      socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    });
    expect(refused).toBe('ECONNREFUSED');
    // On the overlay network a task reaches its peers' listener, which refuses a request without the secret.
    const status = clusterPeers(JSON.parse((await stack.admin(first, '/api/v1/status')).text));
    const other = status.find((p) => !p.self)!;
    const res = await stack.fetchFromTask(first, `http://${other.address}/v2/team/app/manifests/v1`);
    expect(res.status).toBe(403);
  });

  it('pulls one cold image through every node at once, then again: the upstream serves each blob once', async () => {
    const hostsDir = await mkdtemp(join(tmpdir(), 'regcache-swarm-hosts-'));
    try {
      // A real client per node: containerd, with the node's published port as the mirror of alpha.test.
      const pullWithContainerd = async (node: SwarmNode, round: number) => {
        const dir = join(hostsDir, node.name);
        await mkdirHosts(dir, node);
        const containerd = await startContainerd();
        try {
          const ref = `${REGISTRY}/team/app:v1`;
          await containerd.ctr(['--namespace', `r${round}`, 'images', 'pull', '--snapshotter', 'native', '--hosts-dir', dir, ref]);
          return await containerd.imageDigest(`r${round}`, ref);
        } finally {
          await containerd.stop();
        }
      };
      for (const round of [1, 2]) {
        const digests = await Promise.all(swarm.nodes.map((n) => pullWithContainerd(n, round)));
        expect(digests).toEqual(swarm.nodes.map(() => app.manifestDigest));
      }
      const gets = (await upstream.settledRequests()).filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).map((r) => r.path);
      expect(gets.sort()).toEqual([app.config, ...app.layers].map((b) => `/v2/team/app/blobs/${b.digest}`).sort());
    } finally {
      await rm(hostsDir, { recursive: true, force: true });
    }
  });

  it('splits the owners of many blobs roughly evenly, whichever node a client asks', async () => {
    await upstream.settledRequests();
    const linesBefore = upstream.output().length;
    // Each node's clients pull a third of the blobs; every blob is fetched by its owner only.
    await Promise.all(swarm.nodes.map((n) => pullImage(target(n), 'team/many', 'v1', many)));
    await upstream.settledRequests();
    const bySource = upstreamFetchesBySource(upstream.output().slice(linesBefore));
    const blobs = [many.config, ...many.layers];
    const fetched = [...bySource.values()].flat();
    expect(fetched.sort()).toEqual(blobs.map((b) => `/v2/team/many/blobs/${b.digest}`).sort());
    const shares = swarm.nodes.map((n) => bySource.get(n.address)?.length ?? 0);
    console.log(`owners of ${blobs.length} blobs, by node: ${shares.join(' / ')}`);
    // 150 blobs on 3 nodes: 50 each when even; each node owns at least half of that.
    for (const share of shares) expect(share).toBeGreaterThanOrEqual(25);
  });

  it('loses no pull while a node is down, and the ring is whole again once it is back', async () => {
    const [a, b, lost] = swarm.nodes as [SwarmNode, SwarmNode, SwarmNode];
    let stop = false;
    let pulls = 0;
    let slowest = 0;
    let retried = 0;
    // A client like Docker's: keep-alive connections (with Go's retry of a GET whose reused connection
    // the server closed before answering, as nginx does on a reload), and a failed download tried again.
    // Tried-again downloads are listed in the output: a membership change on Swarm causes a few (see
    // docs/cluster-swarm.md); a wrong digest or a download failing three times fails the test.
    const agent = new Agent({ keepAlive: true });
    const downloadRetries: string[] = [];
    const failures: string[] = [];
    // When each failure happened, against the node's stop and start (for the failure message).
    const t0 = Date.now();
    const at = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    const events: string[] = [];
    const loop = async (node: SwarmNode) => {
      while (!stop) {
        const started = Date.now();
        try {
          await pullImage(target(node), 'team/during', 'v1', during, {
            agent,
            onRetry: () => void retried++,
            attempts: 3,
            retryDelayMs: 1000,
            onDownloadRetry: (err) => downloadRetries.push(`${at()} ${node.name}: ${err.message.slice(0, 200)}`),
          });
          pulls++;
          slowest = Math.max(slowest, Date.now() - started);
        } catch (err) {
          failures.push(`${at()} ${node.name}: ${(err as Error).message}`);
        }
      }
    };
    const loops = [loop(a), loop(b), loop(a), loop(b)];
    try {
      await waitFor(async () => pulls >= 4, { timeoutMs: 60_000, what: 'pulls before the loss' });
      events.push(`${at()} stopping ${lost.name}`);
      await swarm.stopNode(lost);
      events.push(`${at()} stopped`);
      const atLoss = pulls;
      await waitFor(async () => pulls >= atLoss + 20, { timeoutMs: 120_000, intervalMs: 200, what: '20 pulls with a node down' });
      console.log(`${pulls - atLoss} pulls while ${lost.name} was down`);
      events.push(`${at()} starting ${lost.name}`);
      await swarm.startNode(lost);
      events.push(`${at()} its engine is up`);
      await stack.waitConverged();
      events.push(`${at()} every node ready`);
    } finally {
      stop = true;
      await Promise.all(loops);
      agent.destroy();
    }
    console.log(`${pulls} pulls in all, ${failures.length} failed; slowest ${slowest} ms; ${retried} GETs sent again on a new connection`);
    console.log(
      `downloads tried again (${downloadRetries.length}): ${[...events, ...downloadRetries].sort((x, y) => parseFloat(x) - parseFloat(y)).join('\n  ') || 'none'}`,
    );
    expect(failures, events.join('; ')).toEqual([]);
    // Every node again sees all three peers up.
    await stack.waitMembership(3);
  });
  it('rolls an upgrade through the nodes one at a time, with no failed pull but at a restarting node', async () => {
    const next = image.replace(/:[^:/]+$/, '') + ':next';
    await Promise.all(swarm.nodes.map((n) => n.docker(['tag', image, next])));
    let stop = false;
    let pulls = 0;
    const failures: string[] = [];
    const atDownNode: string[] = [];
    const agent = new Agent({ keepAlive: true });
    // Clients on every node; the one whose task is being replaced finds its node's port closed for a
    // moment (a host-mode port has nobody else behind it), which is not the cluster's failure.
    const loop = async (node: SwarmNode) => {
      while (!stop) {
        try {
          await pullImage(target(node), 'team/during', 'v1', during, { agent, attempts: 3, retryDelayMs: 1000 });
          pulls++;
        } catch (err) {
          const message = (err as Error).message;
          (message.includes(`ECONNREFUSED ${node.address}:5000`) ? atDownNode : failures).push(`${node.name}: ${message.slice(0, 300)}`);
        }
      }
    };
    const loops = swarm.nodes.map(loop);
    let mostDown = 0;
    try {
      await swarm.manager.docker(['service', 'update', '--detach', '--no-resolve-image', '--image', next, 'regcache_regcache']);
      await waitFor(
        async () => {
          const images = await stack.images();
          mostDown = Math.max(mostDown, images.filter((i) => i === undefined).length);
          return images.every((i) => i === next);
        },
        { timeoutMs: 240_000, intervalMs: 250, what: `every node running ${next}` },
      );
      await stack.waitConverged();
      await stack.waitMembership(swarm.nodes.length);
    } finally {
      stop = true;
      await Promise.all(loops);
      agent.destroy();
    }
    console.log(
      `upgrade: ${pulls} pulls, ${failures.length} failed, ${atDownNode.length} at a node while its task restarted; at most ${mostDown} node(s) down at once`,
    );
    expect(mostDown).toBeLessThanOrEqual(1);
    expect(failures).toEqual([]);
  });
});

async function mkdirHosts(dir: string, node: SwarmNode): Promise<void> {
  await mkdir(join(dir, REGISTRY), { recursive: true });
  await writeFile(
    join(dir, REGISTRY, 'hosts.toml'),
    `server = "https://${REGISTRY}"\n\n[host."http://${node.address}:5000"]\n  capabilities = ["pull", "resolve"]\n`,
  );
}
