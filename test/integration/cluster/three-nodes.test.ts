// Three regcache nodes as one cache on one host: each on its own loopback address (127.0.0.11-13)
// with its own dataDir, a static cluster.peers list and one seeded upstream. Real nginx, registry
// processes and egress; counts what the upstream served. No timing assertions.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRing, ringOwner } from '../../../src/cluster/ring.js';
import { findFreePort, waitFor } from '../../helpers/binaries.js';
import { generateImage, MediaTypes } from '../../helpers/image.js';
import { rawRequest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { blobGetCounts, seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const SECRET = 'three-nodes-cluster-secret-0123456789';
const HOSTS = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];
const VHOST = 'docker.io.registry.test';
const REPO = 'library/spread';
const ACCEPT = [MediaTypes.dockerManifest, MediaTypes.dockerManifestList, MediaTypes.ociManifest, MediaTypes.ociIndex].join(', ');

describe('cluster: three nodes on loopback share one cache', () => {
  // Many small blobs, so every node owns some.
  const image = generateImage({ seed: 'cluster-three-nodes', layers: Array.from({ length: 60 }, (_, i) => 2048 + i) });
  const blobs = [image.config, ...image.layers];
  let upstream: UpstreamRegistry;
  let peerPort: number;
  let peers: string[];
  const nodes: RunningRegcache[] = [];

  const sha = (body: Buffer) => `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const get = (node: RunningRegcache, uri: string, headers: Record<string, string> = {}) =>
    rawRequest(`${node.routerUrl}${uri}`, 'GET', { host: VHOST, accept: ACCEPT, ...headers });

  /** A pull as a client does it: the manifest by tag, then every blob; each checked against its digest. */
  const pull = async (node: RunningRegcache): Promise<string | null> => {
    try {
      const manifest = await get(node, `/v2/${REPO}/manifests/v1`);
      if (manifest.status !== 200) return `manifest: ${manifest.status} ${manifest.body.toString().slice(0, 200)}`;
      if (sha(manifest.body) !== image.manifestDigest) return 'manifest digest differs';
      const answers = await Promise.all(blobs.map((b) => get(node, `/v2/${REPO}/blobs/${b.digest}`)));
      for (const [i, res] of answers.entries()) {
        if (res.status !== 200) return `blob ${blobs[i]!.digest}: ${res.status} ${res.body.toString().slice(0, 200)}`;
        if (sha(res.body) !== blobs[i]!.digest) return `blob ${blobs[i]!.digest}: content differs`;
      }
      return null;
    } catch (err) {
      return `request failed: ${String(err)}`;
    }
  };

  const storedOn = async (node: RunningRegcache, digest: string) => {
    const hex = digest.slice('sha256:'.length);
    const file = path.join(node.dir, 'data', 'caches', 'docker-io', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    return stat(file).then(
      (s) => s.size > 0,
      () => false,
    );
  };
  const upstreamBlobGets = async () => blobGetCounts(await upstream.settledRequests());

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: REPO, tag: 'v1', image }]);
    upstream.clearRequests();
    peerPort = await findFreePort();
    peers = HOSTS.map((h) => `${h}:${peerPort}`);
    // One after the other: each node books its caches' ports on the same host.
    for (const [i, host] of HOSTS.entries()) {
      nodes.push(
        await startRegcache(
          {
            registries: { 'docker.io': { upstream: upstream.url, repositories: { deny: ['blocked/*'] } } },
            cluster: { listen: `${host}:${peerPort}`, peers, self: peers[i], secret: SECRET },
          },
          { host },
        ),
      );
    }
  }, 120_000);

  afterAll(async () => {
    for (const node of nodes) await node.stop().catch(() => undefined);
    await upstream?.stop();
  });

  it('fetches each blob from the upstream once for the whole cluster, stored only on its owner', async () => {
    // Cold, through all three at once, then again.
    expect(await Promise.all(nodes.map(pull))).toEqual([null, null, null]);
    expect(await Promise.all(nodes.map(pull))).toEqual([null, null, null]);
    const gets = await upstreamBlobGets();
    const doubled = blobs.filter((b) => gets.get(b.digest) !== 1).map((b) => b.digest);
    // For a failure's report: who fetched it (the upstream's log) and what each node applied meanwhile.
    const report = () =>
      [
        ...upstream.output().filter((l) => doubled.some((d) => l.includes(d))),
        ...nodes.flatMap((n, i) => n.logs.filter((l) => /serves the new config|pass done/.test(l)).map((l) => `node ${i}: ${l}`)),
      ].join('\n');
    expect(doubled, doubled.length > 0 ? report() : '').toEqual([]);

    // The owner the ring names (nginx's consistent hash, computed) holds the blob; no other node does.
    const ring = buildRing(peers);
    const owned = new Map<string, number>();
    for (const b of blobs) {
      const owner = ringOwner(ring, b.digest)!;
      owned.set(owner, (owned.get(owner) ?? 0) + 1);
      await waitFor(() => storedOn(nodes[peers.indexOf(owner)]!, b.digest), { timeoutMs: 15_000, what: `${b.digest} stored on ${owner}` });
      for (const [i, node] of nodes.entries())
        if (peers[i] !== owner) expect(await storedOn(node, b.digest), `${b.digest} on ${peers[i]}`).toBe(false);
    }
    // Roughly even: each of the three owns a fair part of the 61 blobs (with 25, one node owned only 3 in a CI run: the ring moves with the free peer port).
    expect([...owned.keys()].sort()).toEqual(peers);
    for (const n of owned.values()) expect(n).toBeGreaterThanOrEqual(4);
  }, 120_000);

  it('answers tags on the owner of the repository only (one tag microcache per cluster)', async () => {
    const owner = ringOwner(buildRing(peers), `docker.io|${REPO}`)!;
    // The peer listener's lines (no "listener" field) are what a node's caches served.
    const servedTags = async (node: RunningRegcache) =>
      (await readFile(path.join(node.dir, 'data', 'nginx', 'logs', 'access.log'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { uri: string; listener?: string })
        .filter((e) => e.listener === undefined && e.uri === `/v2/${REPO}/manifests/v1`).length;
    await waitFor(async () => (await servedTags(nodes[peers.indexOf(owner)]!)) >= 6, {
      timeoutMs: 10_000,
      what: 'the owner logged the six tag requests',
    });
    for (const [i, node] of nodes.entries()) if (peers[i] !== owner) expect(await servedTags(node), peers[i]).toBe(0);
  });

  it('shows the ring in /api/v1/status and the peer metrics', async () => {
    await waitFor(
      async () => {
        const { body } = await adminJson(nodes[0]!, '/api/v1/status');
        return body.cluster?.peers?.every((p: { up: boolean | null }) => p.up === true) ?? false;
      },
      { timeoutMs: 20_000, what: 'every peer probed up' },
    );
    const { body } = await adminJson(nodes[0]!, '/api/v1/status');
    expect(body.cluster.self).toBe(peers[0]);
    expect(body.cluster.peers.map((p: { address: string }) => p.address)).toEqual(peers);
    const shares = body.cluster.peers.map((p: { ringShare: number }) => p.ringShare);
    expect(shares.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 2);
    // Every node forwarded its pulls over the ring, to itself and the others.
    await waitFor(
      async () => {
        const { body: b } = await adminJson(nodes[0]!, '/api/v1/status');
        return b.cluster.peers.every((p: { forwarded: number }) => p.forwarded > 0);
      },
      { timeoutMs: 10_000, what: 'forwarded requests counted for every peer' },
    );
    expect(body.config.applied.cluster.secret).toBe('[set]');
    expect(JSON.stringify(body)).not.toContain(SECRET);
    const metrics = await (await fetch(`${nodes[0]!.adminUrl}/metrics`)).text();
    for (const p of peers) expect(metrics).toContain(`regcache_peer_up{peer="${p}"} 1`);
    expect(metrics).toMatch(new RegExp(`regcache_peer_requests_total\\{peer="${peers[1]!.replace(/\./g, '\\.')}",code="200"\\} [1-9]`));
  }, 60_000);

  it('lets only peers in on the peer listener, and keeps the client guards on the public one', async () => {
    const peerUrl = `http://${HOSTS[0]}:${peerPort}`;
    const blob = blobs[0]!.digest;
    for (const headers of [{}, { 'x-regcache-peer': 'wrong-secret-0123456789' }, { 'x-regcache-peer': SECRET.toUpperCase() }] as Array<
      Record<string, string>
    >) {
      const res = await rawRequest(`${peerUrl}/v2/${REPO}/blobs/${blob}`, 'GET', { host: VHOST, ...headers });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body.toString()).errors[0].code).toBe('DENIED');
    }
    const ok = await rawRequest(`${peerUrl}/v2/`, 'GET', { host: VHOST, 'x-regcache-peer': SECRET });
    expect(ok.status).toBe(200);
    // On the public listener the header changes nothing: the repository rules still refuse, with
    // a wrong value and with the right one.
    for (const value of ['wrong-secret-0123456789', SECRET]) {
      const refused = await get(nodes[1]!, `/v2/blocked/app/manifests/v1`, { 'x-regcache-peer': value });
      expect(refused.status).toBe(403);
      expect(refused.body.toString()).toContain('does not serve this repository');
    }
    const allowed = await get(nodes[1]!, `/v2/${REPO}/manifests/v1`, { 'x-regcache-peer': 'wrong-secret-0123456789' });
    expect(allowed.status).toBe(200);
  }, 30_000);

  it('loses no pull when a node stops during a pull loop through the other two', async () => {
    const failures: string[] = [];
    let pulls = 0;
    let stopping = true;
    const loop = async (node: RunningRegcache) => {
      // Until the third node is gone, and then some more rounds through the changed ring.
      let after = 0;
      while (stopping || after++ < 5) {
        const problem = await pull(node);
        pulls++;
        if (problem) failures.push(problem);
      }
    };
    const loops = [loop(nodes[0]!), loop(nodes[1]!)];
    await new Promise((resolve) => setTimeout(resolve, 300));
    await nodes[2]!.stop({ keepDir: true });
    stopping = false;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(pulls).toBeGreaterThanOrEqual(10);
    // Its health shows up in status.
    await waitFor(
      async () => {
        const { body } = await adminJson(nodes[0]!, '/api/v1/status');
        return body.cluster.peers.find((p: { address: string }) => p.address === peers[2])?.up === false;
      },
      { timeoutMs: 20_000, what: `${peers[2]} shown down` },
    );
  }, 120_000);

  it('gives the node its keys back when it returns, losing no pull meanwhile', async () => {
    const stopped = nodes[2]!;
    const owned = blobs.filter((b) => ringOwner(buildRing(peers), b.digest) === peers[2]).map((b) => b.digest);
    nodes[2] = await startRegcache(
      {
        registries: { 'docker.io': { upstream: upstream.url, repositories: { deny: ['blocked/*'] } } },
        cluster: { listen: peers[2], peers, self: peers[2], secret: SECRET },
      },
      { host: HOSTS[2], dir: stopped.dir, ports: { router: stopped.routerPort, admin: stopped.adminPort } },
    );
    const since = Date.now() / 1000;
    // The first node sends the returning node's keys to it again once its failure record expires.
    const backOnOwner = async () =>
      (await readFile(path.join(nodes[0]!.dir, 'data', 'nginx', 'logs', 'access.log'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { msec: number; uri: string; peer?: string; status: number })
        .some((e) => e.msec > since && e.peer === peers[2] && e.status === 200 && owned.some((d) => e.uri.endsWith(d)));
    const failures: string[] = [];
    await waitFor(
      async () => {
        const problems = await Promise.all([pull(nodes[0]!), pull(nodes[1]!)]);
        failures.push(...problems.filter((p): p is string => p !== null));
        return backOnOwner();
      },
      { timeoutMs: 30_000, intervalMs: 200, what: `${peers[2]} serving its keys again` },
    );
    expect(failures).toEqual([]);
    // Its storage kept what it fetched before it stopped.
    for (const d of owned) expect(await storedOn(nodes[2]!, d), d).toBe(true);
  }, 120_000);
});
