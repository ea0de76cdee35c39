// `npm run bench:cluster`: compose/cluster-stack.yml on a real three-node Swarm (nested engines on this
// machine, test/helpers/swarm.ts) in front of a seeded upstream on the node network's gateway. Measures
// what the cluster promises: one upstream fetch per blob however many nodes and clients ask, aggregate
// hot throughput of 3 nodes against 1, and no failed pull while a node is lost. Writes
// bench/cluster-results.json.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deployClusterStack, type ClusterStack } from '../test/helpers/cluster-stack.js';
import { generateImage, type TestImage } from '../test/helpers/image.js';
import { pullImage, type PullTarget } from '../test/helpers/registry-pull.js';
import { startSwarm, type Swarm, type SwarmNode } from '../test/helpers/swarm.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../test/helpers/upstream-registry.js';
import { ensureRegcacheImage } from '../test/integration/container/images.js';
import { median } from './tools.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MIB = 1024 ** 2;
const REGISTRY = 'alpha.test';
const DOMAIN = 'regcache.test';
const CLIENTS_PER_NODE = 8;
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 10);
const LOSS_SECONDS = Number(process.env.BENCH_LOSS_SECONDS ?? 30);

const log = (msg: string) => process.stderr.write(`bench:cluster: ${msg}\n`);

interface Row {
  id: string;
  label: string;
  unit: string;
  value: number;
  goal: string;
  pass: boolean;
  note?: string;
}

const target = (node: SwarmNode): PullTarget => ({ address: node.address, port: 5000, vhost: `${REGISTRY}.${DOMAIN}` });
const blobPaths = (repository: string, image: TestImage) => [image.config, ...image.layers].map((b) => `/v2/${repository}/blobs/${b.digest}`);

/** Row 1: 8 clients on each node pull one cold image at once; upstream GETs per blob. */
async function coldFanIn(swarm: Swarm, upstream: UpstreamRegistry, image: TestImage): Promise<Row> {
  await upstream.settledRequests();
  upstream.clearRequests();
  const started = Date.now();
  await Promise.all(swarm.nodes.flatMap((n) => Array.from({ length: CLIENTS_PER_NODE }, () => pullImage(target(n), 'bench/cold', 'v1', image))));
  const seconds = (Date.now() - started) / 1000;
  const gets = (await upstream.settledRequests()).filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
  const perBlob = blobPaths('bench/cold', image).map((p) => gets.filter((g) => g.path === p).length);
  const worst = Math.max(...perBlob);
  return {
    id: '1',
    label: `cold image, ${swarm.nodes.length} nodes × ${CLIENTS_PER_NODE} clients: upstream GETs per blob (worst of ${perBlob.length})`,
    unit: 'GETs',
    value: worst,
    goal: '= 1',
    pass: worst === 1,
    note: `${perBlob.length} blobs, ${(image.layers.reduce((n, l) => n + l.size, 0) / MIB).toFixed(0)} MiB; all ${swarm.nodes.length * CLIENTS_PER_NODE} pulls done in ${seconds.toFixed(1)} s`,
  };
}

/** One wrk (8 connections) per entry of `nodes` at once, cycling through hot blobs; bytes per second over all of them. */
async function hotThroughput(nodes: SwarmNode[], paths: string[], blobBytes: number): Promise<{ mibPerSecond: number; errors: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'regcache-bench-cluster-'));
  try {
    const script = path.join(dir, 'paths.lua');
    await writeFile(
      script,
      [
        `local paths = {${paths.map((p) => `"${p}"`).join(', ')}}`,
        'local i = 0',
        'request = function()',
        '  i = i % #paths + 1',
        '  return wrk.format("GET", paths[i])',
        'end',
        '',
      ].join('\n'),
    );
    const results = await Promise.all(
      nodes.map(async (node) => {
        const { stdout } = await run(
          'wrk',
          ['-t1', `-c${CLIENTS_PER_NODE}`, `-d${WRK_SECONDS}s`, '-s', script, '-H', `Host: ${REGISTRY}.${DOMAIN}`, `http://${node.address}:5000/`],
          { timeout: (WRK_SECONDS + 60) * 1000 },
        );
        const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? 0);
        const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
        return {
          requests: num(/(\d+) requests in/),
          seconds: num(/requests in ([\d.]+)s/),
          errors: num(/Non-2xx or 3xx responses: (\d+)/) + (socket ? socket.slice(1).reduce((n, x) => n + Number(x), 0) : 0),
        };
      }),
    );
    const mibPerSecond = results.reduce((sum, r) => sum + (r.requests * blobBytes) / MIB / (r.seconds || WRK_SECONDS), 0);
    return { mibPerSecond, errors: results.reduce((n, r) => n + r.errors, 0) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Rows 3 and 3b: clients pull through two nodes in a loop while the third node is stopped, then started again. */
async function nodeLoss(swarm: Swarm, stack: ClusterStack, image: TestImage): Promise<Row[]> {
  const [a, b, lost] = swarm.nodes as [SwarmNode, SwarmNode, SwarmNode];
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let stop = false;
  let pulls = 0;
  const failures: string[] = [];
  const durations: number[] = [];
  let retried = 0;
  let lossAt = 0;
  const onRetry = (err: Error) => {
    retried++;
    log(`GET sent again (${err.message}) at ${lossAt ? `${((Date.now() - lossAt) / 1000).toFixed(1)} s after the node stopped` : 'before the loss'}`);
  };
  // Pulls in which some download failed and was tried again (Docker's pull does; a client that does
  // not would have failed them), with what failed.
  const retriedPulls: string[] = [];
  const loop = async (node: SwarmNode) => {
    while (!stop) {
      const t0 = Date.now();
      let retriedDownload = '';
      try {
        await pullImage(target(node), 'bench/loss', 'v1', image, {
          agent,
          onRetry,
          attempts: 3,
          retryDelayMs: 1000,
          onDownloadRetry: (err) => (retriedDownload ||= err.message),
        });
        pulls++;
        durations.push(Date.now() - t0);
      } catch (err) {
        failures.push(`${node.name}: ${(err as Error).message}`);
      }
      if (retriedDownload) {
        retriedPulls.push(retriedDownload);
        log(
          `download tried again ${lossAt ? `${((Date.now() - lossAt) / 1000).toFixed(1)} s after the node stopped` : 'before the loss'}: ${retriedDownload.slice(0, 200)}`,
        );
      }
    }
  };
  const loops = Array.from({ length: CLIENTS_PER_NODE }, (_, i) => loop(i % 2 ? b : a));
  let during = 0;
  try {
    await new Promise((r) => setTimeout(r, 3000));
    await swarm.stopNode(lost);
    lossAt = Date.now();
    const atLoss = pulls;
    await new Promise((r) => setTimeout(r, LOSS_SECONDS * 1000));
    during = pulls - atLoss;
    log(`starting ${lost.name} again ${((Date.now() - lossAt) / 1000).toFixed(1)} s after it stopped`);
    await swarm.startNode(lost);
    await stack.waitConverged();
  } finally {
    stop = true;
    await Promise.all(loops);
    agent.destroy();
  }
  if (failures.length) log(`failed pulls:\n  ${failures.slice(0, 10).join('\n  ')}`);
  const kinds = new Map<string, number>();
  for (const m of retriedPulls) {
    const kind = /answered (\d+)/.exec(m)?.[1] ?? /: ([a-z ]+)$/.exec(m)?.[1] ?? 'other';
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  const retriedRow: Row = {
    id: '3b',
    label: 'the same: pulls that failed a download once (a client that does not try again fails them)',
    unit: 'pulls',
    value: retriedPulls.length,
    goal: 'report',
    pass: true,
    note: kinds.size
      ? `causes: ${[...kinds].map(([k, n]) => `${k} × ${n}`).join(', ')} (a response cut by a stopping node or a reloading router; 503 when every peer one nginx worker tried had just failed)`
      : 'none this run',
  };
  const lossRow: Row = {
    id: '3',
    label: `node lost for ${LOSS_SECONDS} s, ${CLIENTS_PER_NODE} clients pulling through the other two: failed pulls (downloads tried up to 3 times, as Docker does)`,
    unit: 'pulls',
    value: failures.length,
    goal: '= 0',
    pass: failures.length === 0,
    note:
      `${pulls + failures.length} pulls in all (${during} while the node was down); slowest pull ${Math.max(...durations)} ms, median ${median(durations)} ms; ` +
      `${retried} GETs sent again because nginx closed a kept-alive connection as it was reused (a reload on a membership change; Go's http client, in Docker and containerd, does the same)`,
  };
  return [lossRow, retriedRow];
}

async function main(): Promise<void> {
  for (const tool of ['wrk', 'docker', 'mmdebstrap']) {
    await run('sh', ['-c', `command -v ${tool}`]).catch(() => {
      log(`${tool} not found; run .ci/setup`);
      process.exit(1);
    });
  }
  const started = Date.now();
  const image = await ensureRegcacheImage();
  const swarm = await startSwarm({ prefix: 'regcache-bench-swarm', subnet: '172.30.214' });
  let upstream: UpstreamRegistry | undefined;
  try {
    await swarm.loadImage(image);
    upstream = await startUpstreamRegistry({ host: swarm.gateway });
    const cold = generateImage({ seed: `bench-cold-${Date.now()}`, layers: [8 * MIB, 8 * MIB, 8 * MIB, 8 * MIB] });
    const hot = generateImage({ seed: `bench-hot-${Date.now()}`, layers: Array.from({ length: 12 }, () => 4 * MIB) });
    const loss = generateImage({ seed: `bench-loss-${Date.now()}`, layers: Array.from({ length: 12 }, () => 256 * 1024) });
    await seedUpstream(upstream, [
      { repository: 'bench/cold', tag: 'v1', image: cold },
      { repository: 'bench/hot', tag: 'v1', image: hot },
      { repository: 'bench/loss', tag: 'v1', image: loss },
    ]);
    const stack = await deployClusterStack(swarm, { image, registries: { [REGISTRY]: { upstream: upstream.url } }, domain: DOMAIN });
    await stack.waitConverged();
    await stack.waitMembership(swarm.nodes.length);
    log(`swarm ready: ${JSON.stringify(swarm.timings)}`);

    const rows: Row[] = [];
    rows.push(await coldFanIn(swarm, upstream, cold));
    log(JSON.stringify(rows.at(-1)));

    // Hot: every blob cached on its owner, then the same load on 3 nodes and on 1.
    const hotPaths = blobPaths('bench/hot', hot).slice(1); // the layers (4 MiB each)
    for (const node of swarm.nodes) await pullImage(target(node), 'bench/hot', 'v1', hot);
    const three = await hotThroughput(swarm.nodes, hotPaths, 4 * MIB);
    log(`hot, 3 nodes: ${three.mibPerSecond.toFixed(0)} MiB/s`);

    rows.push(...(await nodeLoss(swarm, stack, loss)));
    log(JSON.stringify(rows.slice(-2)));

    // One node: the others drained, so the ring is that node alone and it holds every blob itself.
    const [first, ...rest] = swarm.nodes as [SwarmNode, ...SwarmNode[]];
    for (const node of rest) await swarm.manager.docker(['node', 'update', '--availability', 'drain', node.name]);
    await stack.waitMembership(1, { nodes: [first] });
    await pullImage(target(first), 'bench/hot', 'v1', hot);
    // The same three wrk processes (24 connections), all on the one node.
    const one = await hotThroughput([first, first, first], hotPaths, 4 * MIB);
    log(`hot, 1 node: ${one.mibPerSecond.toFixed(0)} MiB/s`);
    const ratio = three.mibPerSecond / one.mibPerSecond;
    rows.splice(1, 0, {
      id: '2',
      label: `hot 4 MiB blobs, ${3 * CLIENTS_PER_NODE} clients: aggregate throughput 3 nodes vs 1`,
      unit: 'ratio',
      value: ratio,
      goal: 'report',
      pass: three.errors === 0 && one.errors === 0,
      note:
        `3 nodes ${three.mibPerSecond.toFixed(0)} MiB/s, 1 node ${one.mibPerSecond.toFixed(0)} MiB/s (errors ${three.errors} / ${one.errors}); ` +
        `the nodes and wrk share this machine's ${os.cpus().length} cores, so 3 nodes add no CPU; on 3 nodes 2 of 3 requests also cross to the blob's owner (one more nginx copy)`,
    });

    const results = {
      measuredAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, node: process.version },
      swarmSetupMs: swarm.timings,
      totalSeconds: Math.round((Date.now() - started) / 1000),
      rows,
    };
    await writeFile(path.join(repoRoot, 'bench', 'cluster-results.json'), JSON.stringify(results, null, 2) + '\n');
    for (const r of rows)
      process.stdout.write(
        `${r.id}  ${r.label}: ${r.unit === 'ratio' ? r.value.toFixed(2) + '×' : r.value} (goal ${r.goal}) ${r.pass ? 'PASS' : 'FAIL'}${r.note ? `\n   ${r.note}` : ''}\n`,
      );
  } finally {
    await upstream?.stop();
    await swarm.teardown();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cluster failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
