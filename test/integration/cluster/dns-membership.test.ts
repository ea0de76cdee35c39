// dns: peers on real daemons: what the name answers is the ring. A node joins and leaves through
// the answer alone; every node re-renders its ring (resolver → scheduler → validated pass → nginx
// reload), and only the keys of the arcs that changed hands move. The lookup is the one collaborator
// faked (no DNS server here); everything else is real.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRing, ringOwner } from '../../../src/cluster/ring.js';
import { findFreePort, waitFor } from '../../helpers/binaries.js';
import { generateImage, MediaTypes } from '../../helpers/image.js';
import { rawRequest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { blobGetCounts, seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const SECRET = 'dns-membership-secret-0123456789';
const HOSTS = ['127.0.0.21', '127.0.0.22', '127.0.0.23'];
const NAME = 'tasks.regcache.cluster.test';
const VHOST = 'docker.io.registry.test';
const REPO = 'library/joined';
const ACCEPT = [MediaTypes.dockerManifest, MediaTypes.ociManifest].join(', ');

describe('cluster: dns: membership on real daemons', () => {
  const image = generateImage({ seed: 'cluster-dns-membership', layers: Array.from({ length: 20 }, (_, i) => 1024 + i) });
  const blobs = [image.config, ...image.layers];
  let upstream: UpstreamRegistry;
  let port: number;
  let answer: string[] = [HOSTS[0]!, HOSTS[1]!];
  const lookups: string[] = [];
  const nodes: RunningRegcache[] = [];
  const peer = (host: string) => `${host}:${port}`;

  const start = (host: string) =>
    startRegcache(
      {
        registries: { 'docker.io': { upstream: upstream.url } },
        cluster: { listen: peer(host), peers: `dns:${NAME}:${port}`, self: peer(host), secret: SECRET },
      },
      {
        host,
        cluster: {
          lookup: async (name) => {
            lookups.push(name);
            return [...answer];
          },
          resolveMs: 200,
          peerProbeMs: 500,
        },
      },
    );

  const sha = (body: Buffer) => `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const pull = async (node: RunningRegcache) => {
    const headers = { host: VHOST, accept: ACCEPT };
    const manifest = await rawRequest(`${node.routerUrl}/v2/${REPO}/manifests/v1`, 'GET', headers);
    expect(manifest.status).toBe(200);
    for (const b of blobs) {
      const res = await rawRequest(`${node.routerUrl}/v2/${REPO}/blobs/${b.digest}`, 'GET', headers);
      expect(res.status, b.digest).toBe(200);
      expect(sha(res.body)).toBe(b.digest);
    }
  };
  const ringOf = async (node: RunningRegcache): Promise<string[]> =>
    ((await adminJson(node, '/api/v1/status')).body.cluster?.peers ?? []).map((p: { address: string }) => p.address);
  const upstreamBlobGets = async () => blobGetCounts(await upstream.settledRequests());

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: REPO, tag: 'v1', image }]);
    upstream.clearRequests();
    port = await findFreePort();
    nodes.push(await start(HOSTS[0]!));
    nodes.push(await start(HOSTS[1]!));
  }, 120_000);

  afterAll(async () => {
    for (const node of nodes) await node.stop().catch(() => undefined);
    await upstream?.stop();
  });

  it('builds the ring from the answer, re-renders it on every node when a node joins, and moves only the joiner’s keys', async () => {
    const two = [peer(HOSTS[0]!), peer(HOSTS[1]!)];
    expect(await ringOf(nodes[0]!)).toEqual(two);
    expect(lookups).toContain(NAME);
    await pull(nodes[0]!);
    await pull(nodes[1]!);
    expect([...(await upstreamBlobGets()).values()].every((n) => n === 1)).toBe(true);

    // A third task starts (on its own ring at once, before DNS lists it), then DNS answers it.
    nodes.push(await start(HOSTS[2]!));
    const three = HOSTS.map(peer);
    expect(await ringOf(nodes[2]!)).toEqual(three);
    const generation = (await adminJson(nodes[0]!, '/api/v1/status')).body.generation;
    answer = [...HOSTS];
    for (const node of nodes)
      await waitFor(async () => (await ringOf(node)).length === 3, { timeoutMs: 20_000, what: `${node.routerUrl} sees three peers` });
    expect((await adminJson(nodes[0]!, '/api/v1/status')).body.generation).toBeGreaterThan(generation);
    const events = (await adminJson(nodes[0]!, '/api/v1/events?limit=50')).body;
    expect(JSON.stringify(events)).toContain(`cluster: ${NAME} now answers`);

    for (const node of nodes) await pull(node);
    // Keys the new ring gives the joiner are fetched once more (by it); all others stay where they were.
    const before = buildRing(two);
    const after = buildRing(three);
    const gets = await upstreamBlobGets();
    let moved = 0;
    for (const b of blobs) {
      const changed = ringOwner(before, b.digest) !== ringOwner(after, b.digest);
      if (changed) {
        moved++;
        expect(ringOwner(after, b.digest)).toBe(peer(HOSTS[2]!));
      }
      expect(gets.get(b.digest), b.digest).toBe(changed ? 2 : 1);
    }
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThan(blobs.length);
  }, 120_000);

  it('drops a node the answer no longer lists, and keeps the ring when the lookup fails', async () => {
    answer = [HOSTS[0]!, HOSTS[1]!];
    await waitFor(async () => (await ringOf(nodes[0]!)).length === 2, { timeoutMs: 20_000, what: 'two peers again' });
    await waitFor(async () => (await ringOf(nodes[1]!)).length === 2, { timeoutMs: 20_000, what: 'two peers again' });
    await pull(nodes[0]!);
    // An empty answer (a DNS hiccup) keeps the last ring.
    answer = [];
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await ringOf(nodes[0]!)).toEqual([peer(HOSTS[0]!), peer(HOSTS[1]!)]);
    await pull(nodes[1]!);
  }, 60_000);
});
