// `npm run bench`: a seeded local upstream, regcache (the CLI daemon) with one registry in front of
// it, and side-by-side measurements of the router against that same registry reached directly.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request, Agent } from 'node:http';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNginxController } from '../src/apply/nginx/nginx-controller.js';
import { readEgressSystem } from '../src/apply/egress/egress-system.js';
import { egressNginxView } from '../src/apply/egress/egress-view.js';
import type { NginxDriver } from '../src/apply/nginx/nginx-driver.js';
import { nginxView } from '../src/apply/nginx/nginx-view.js';
import { createProcessNginx } from '../src/apply/nginx/process-nginx.js';
import { createEgressNginxRenderer, createNginxRenderer, readNginxTemplates } from '../src/apply/nginx/render.js';
import { parseConfig } from '../src/config/parse.js';
import { egressPlan } from '../src/desired/egress-routes.js';
import { createLogger } from '../src/log.js';
import { createSystemClock } from '../src/util/clock.js';
import { findBinary } from '../src/util/find-binary.js';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { configFrom } from '../test/helpers/config.js';
import { createRouterClient } from '../src/warm/router-client.js';
import { createWarmJobs } from '../src/warm/warm-jobs.js';
import { findFreePort, waitFor } from '../test/helpers/binaries.js';
import { generateImage, MediaTypes } from '../test/helpers/image.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../test/helpers/upstream-registry.js';
import { coldPathRows } from './integrity-rows.js';
import { proxyFloorRow } from './proxy-floor.js';
import { svgChart, table, type BenchResults, type ComparisonRow } from './report.js';
import { curlDownload, median, parallelDownloads, percentile, rssBytes, sampleRss, wrk, type Target } from './tools.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MIB = 1024 ** 2;
const BLOB_BYTES = 64 * MIB;
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 5);
const CONFIG_CHANGES = Number(process.env.BENCH_CONFIG_CHANGES ?? 50);
const WARM_LAYERS = [16 * MIB, 16 * MIB, 16 * MIB, 16 * MIB];
const MANIFEST_ACCEPT = [MediaTypes.dockerManifest, MediaTypes.dockerManifestList, MediaTypes.ociManifest, MediaTypes.ociIndex].join(', ');

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

for (const tool of ['curl', 'wrk', 'nginx', 'skopeo']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    log(`${tool} not found; run .ci/setup (Debian package ${tool})`);
    process.exit(1);
  }
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });
/** GET with a Host header (fetch cannot set one); resolves with the status. */
function statusOf(port: number, host: string, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: keepAlive }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

interface RunningDaemon {
  process: ChildProcess;
  configPath: string;
  adminUrl: string;
  stop(): Promise<void>;
}

async function startRegcache(dir: string, config: string): Promise<RunningDaemon> {
  const configPath = path.join(dir, 'registries.yaml');
  await writeFile(configPath, config);
  const logFile = await open(path.join(dir, 'daemon.log'), 'a');
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist', 'cli', 'main.js'), 'run', '--config', configPath], {
    stdio: ['ignore', logFile.fd, logFile.fd],
    env: { ...process.env, REGCACHE_LOG_LEVEL: 'warn' },
  });
  await logFile.close();
  const adminUrl = `http://${/admin: \{ listen: "([^"]+)"/.exec(config)![1]}`;
  await waitFor(async () => (await fetch(`${adminUrl}/readyz`)).status === 200, { timeoutMs: 60_000, what: 'regcache to be ready' });
  return {
    process: child,
    configPath,
    adminUrl,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Upstream GETs of `urlPath` once the registry cache has stored the blob (its data file exists). */
async function settledGets(upstream: UpstreamRegistry, urlPath: string, storage: string): Promise<number> {
  const hex = urlPath.split('sha256:')[1]!;
  const data = path.join(storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  await waitFor(
    async () =>
      stat(data).then(
        (s) => s.size > 0,
        () => false,
      ),
    { timeoutMs: 60_000, what: `the cache to store ${urlPath}` },
  );
  await new Promise((r) => setTimeout(r, 500));
  return (await upstream.settledRequests()).filter((r) => r.method === 'GET' && r.path === urlPath).length;
}

async function hotBlob(router: Target, direct: Target, urlPath: string, size: number): Promise<ComparisonRow[]> {
  const single = { router: [] as number[], direct: [] as number[] };
  for (let i = 0; i < 7; i++) {
    for (const side of i % 2 ? (['direct', 'router'] as const) : (['router', 'direct'] as const)) {
      const r = await curlDownload(side === 'router' ? router : direct, urlPath);
      if (r.status !== 200 || r.bytes !== size) throw new Error(`hot blob ${side}: HTTP ${r.status}, ${r.bytes} bytes`);
      single[side].push(r.bytes / MIB / r.seconds);
    }
  }
  const parallel = { router: [] as number[], direct: [] as number[] };
  for (let i = 0; i < 4; i++) {
    for (const side of i % 2 ? (['direct', 'router'] as const) : (['router', 'direct'] as const)) {
      const r = await parallelDownloads(side === 'router' ? router : direct, urlPath, 16);
      if (r.statuses.some((s) => s !== 200) || r.bytes !== 16 * size) throw new Error(`hot blob x16 ${side}: statuses ${r.statuses.join(',')}`);
      parallel[side].push(r.bytes / MIB / r.seconds);
    }
  }
  // Best of N, in alternating order: on a shared machine other load only ever slows a run down.
  const row = (id: string, label: string, m: { router: number[]; direct: number[] }, goal: number): ComparisonRow => {
    const routerValue = Math.max(...m.router);
    const directValue = Math.max(...m.direct);
    const ratio = routerValue / directValue;
    return {
      id,
      label,
      unit: `MiB/s, best of ${m.router.length}`,
      router: routerValue,
      direct: directValue,
      ratio,
      goal: `≥ ${goal.toFixed(2)}×`,
      pass: ratio >= goal,
    };
  };
  return [row('1a', 'hot 64 MiB blob, 1 stream', single, 0.95), row('1b', 'hot 64 MiB blob, 16 streams', parallel, 1.0)];
}

async function requestRate(id: string, label: string, router: Target, direct: Target, urlPath: string, goal: number): Promise<ComparisonRow> {
  const headers = { Accept: MANIFEST_ACCEPT };
  const r = await wrk(router, urlPath, headers, WRK_SECONDS);
  const d = await wrk(direct, urlPath, headers, WRK_SECONDS);
  for (const [side, w] of [
    ['router', r],
    ['direct', d],
  ] as const) {
    if (w.non2xx > 0 || w.requests === 0) throw new Error(`${label} ${side}: ${w.non2xx} non-2xx of ${w.requests}`);
  }
  const ratio = r.requestsPerSecond / d.requestsPerSecond;
  return {
    id,
    label,
    unit: 'req/s, wrk 32 conns',
    router: r.requestsPerSecond,
    direct: d.requestsPerSecond,
    ratio,
    goal: `≥ ${goal}×`,
    pass: ratio >= goal,
  };
}

async function coldPull(
  upstream: UpstreamRegistry,
  storage: string,
  router: Target,
  direct: Target,
  viaRouter: string,
  viaDirect: string,
): Promise<ComparisonRow[]> {
  upstream.clearRequests();
  const r = await parallelDownloads(router, viaRouter, 16);
  const d = await parallelDownloads(direct, viaDirect, 16);
  if ([...r.statuses, ...d.statuses].some((s) => s !== 200)) throw new Error(`cold pull statuses ${r.statuses} / ${d.statuses}`);
  const routerGets = await settledGets(upstream, viaRouter, storage);
  const directGets = await settledGets(upstream, viaDirect, storage);
  return [
    {
      id: '4',
      label: 'cold 64 MiB blob, 16 clients at once',
      unit: 'upstream GETs of the blob',
      router: routerGets,
      direct: directGets,
      ratio: null,
      goal: '= 1',
      pass: routerGets === 1,
      note:
        routerGets === 1
          ? "every client's miss streams from the registry cache, and all of its fetches (one per client, one into its storage) meet in the egress lock"
          : 'more than one: check that egress is on (registries.<name>.egress) — without it distribution 2.8 fetches a miss twice',
    },
  ];
}

async function configChanges(
  daemon: RunningDaemon,
  baseConfig: string,
  port: number,
  probePath: string,
): Promise<{ samples: number[]; rssPeak: number }> {
  const samples: number[] = [];
  const rss = sampleRss(daemon.process.pid!);
  for (let i = 0; i < CONFIG_CHANGES; i++) {
    const alias = `live-${i}.bench.test`;
    const started = performance.now();
    await writeFile(daemon.configPath, baseConfig.replace('    aliases: [127.0.0.1]', `    aliases: [127.0.0.1, ${alias}]`));
    await waitFor(async () => (await statusOf(port, alias, probePath)) === 200, { timeoutMs: 20_000, intervalMs: 5, what: `route for ${alias}` });
    samples.push(performance.now() - started);
  }
  return { samples, rssPeak: await rss.stop() };
}

/**
 * render + nginx -t + swap + reload + probe for a synthetic 200-registry config, on its own nginx:
 * the router, and the egress nginx with one listener per registry.
 */
async function twoHundredRegistries(dir: string): Promise<Record<'router' | 'egress', { renderMs: number; applyMs: number }>> {
  const port = await findFreePort();
  const registries = Array.from({ length: 200 }, (_, i) => `  r${i}.example:\n    upstream: https://r${i}.upstream.test\n`).join('');
  const parsed = parseConfig(`domain: bench.test\nlisten: "127.0.0.1:${port}"\nregistries:\n${registries}`, {
    source: path.join(dir, 'r.yaml'),
    env: {},
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  const config = parsed.value;
  const clock = createSystemClock();
  const logger = createLogger({ level: 'warn' });
  const templates = readNginxTemplates(repoRoot);
  const backends = new Map(config.registries.map((r, i) => [r.name, `127.0.0.1:${20000 + i}`]));
  // Distinct free ports (the OS may hand the same ephemeral port out twice in a row).
  const taken = new Set<number>([port]);
  const distinctPort = async () => {
    for (;;) {
      const p = await findFreePort();
      if (!taken.has(p)) return (taken.add(p), p);
    }
  };
  const egressPorts = new Map<string, number>();
  for (const r of config.registries) egressPorts.set(r.name, await distinctPort());
  const plan = egressPlan({ config, ports: egressPorts, system: await readEgressSystem(), loopback: true });
  const controlPort = await distinctPort();

  const measure = async (subdir: string, probePort: number, text: (driver: NginxDriver, user: string | null, generation: number) => string) => {
    const driver = createProcessNginx({ binary: 'nginx', dataDir: config.dataDir, clock, logger, subdir });
    const controller = createNginxController({ driver, probeBase: `http://127.0.0.1:${probePort}`, clock, logger });
    const user = await driver.workerUser(null);
    const renderMs: number[] = [];
    const applyMs: number[] = [];
    try {
      await controller.apply(text(driver, user, 1), 1);
      for (let generation = 2; generation <= 6; generation++) {
        const t0 = performance.now();
        const rendered = text(driver, user, generation);
        const t1 = performance.now();
        await controller.apply(rendered, generation);
        const t2 = performance.now();
        renderMs.push(t1 - t0);
        applyMs.push(t2 - t1);
      }
    } finally {
      await controller.stop();
    }
    return { renderMs: median(renderMs), applyMs: median(applyMs) };
  };
  const render = createNginxRenderer(templates);
  const renderEgress = createEgressNginxRenderer(templates);
  return {
    router: await measure('nginx', port, (driver, user, generation) =>
      render(nginxView({ config, backends, paths: driver.paths, generation, user })),
    ),
    egress: await measure('egress-nginx', controlPort, (driver, user, generation) =>
      renderEgress(egressNginxView({ config, plan, paths: driver.paths, generation, controlPort, user })!),
    ),
  };
}

/**
 * kill -9 of the daemon and a new `regcache run` on the same dataDir, under a loop of cache hits
 * (manifest by digest and a blob, 3 clients): the new daemon adopts nginx and the cache, so no request fails.
 */
async function daemonRestart(
  dir: string,
  daemon: RunningDaemon,
  config: string,
  port: number,
  host: string,
  paths: string[],
): Promise<{ daemon: RunningDaemon; failed: number; total: number; readyMs: number }> {
  for (const p of paths) await statusOf(port, host, p);
  let running = true;
  let failed = 0;
  let total = 0;
  const loop = async () => {
    while (running) {
      for (const p of paths) {
        total++;
        if ((await statusOf(port, host, p).catch(() => 0)) !== 200) failed++;
      }
    }
  };
  const workers = [loop(), loop(), loop()];
  await new Promise((r) => setTimeout(r, 1000));
  const exited = new Promise((resolve) => daemon.process.once('exit', resolve));
  daemon.process.kill('SIGKILL');
  await exited;
  const killedAt = Date.now();
  const next = await startRegcache(dir, config);
  const readyMs = Date.now() - killedAt;
  await new Promise((r) => setTimeout(r, 1000));
  running = false;
  await Promise.all(workers);
  return { daemon: next, failed, total, readyMs };
}

/** A registry process with a cache's config (proxy to the same egress, same storage) on a loopback TCP port. */
async function startDirectRegistry(dir: string, slug: string): Promise<{ url: string; stop(): void }> {
  const binary = findBinary(['registry', 'docker-registry'], process.env.REGCACHE_REGISTRY_BIN);
  if (!binary) throw new Error('registry binary not found');
  const config = parseYaml(await readFile(path.join(dir, 'data', 'run', slug, 'config.yml'), 'utf8')) as {
    http: Record<string, unknown> & { debug: Record<string, unknown> };
  };
  const port = await findFreePort();
  delete config.http.net;
  config.http.addr = `127.0.0.1:${port}`;
  config.http.debug.addr = `127.0.0.1:${await findFreePort()}`;
  const file = path.join(dir, 'direct-registry.yml');
  await writeFile(file, stringifyYaml(config), { mode: 0o600 });
  const child = spawn(binary, ['serve', file], { stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () =>
      (await fetch(`${url}/v2/`).then(
        (r) => r.status,
        () => 0,
      )) === 200,
    { what: 'the direct registry', timeoutMs: 15_000 },
  );
  return { url, stop: () => void child.kill('SIGTERM') };
}

/**
 * Warm throughput: `regcache warm`'s engine pulling one cold multi-layer image through the router, against
 * skopeo copying another cold image of the same shape through the router (a plain client pull, to dir:).
 */
async function warmThroughput(dir: string, configText: string, port: number, images: Array<{ tag: string; bytes: number }>): Promise<ComparisonRow> {
  const [warmed, pulled] = images as [{ tag: string; bytes: number }, { tag: string; bytes: number }];
  const config = configFrom(configText, path.join(dir, 'registries.yaml'));
  const jobs = createWarmJobs({
    client: createRouterClient(`http://127.0.0.1:${port}`),
    config: () => config,
    clock: createSystemClock(),
    logger: createLogger({ level: 'silent' }),
  });
  const t0 = performance.now();
  const started = jobs.start({ images: [`hub.example/bench/warm:${warmed.tag}`], platforms: ['linux/amd64'] }, 'cli');
  if ('problems' in started) throw new Error(JSON.stringify(started.problems));
  const job = (await jobs.finished(started.job.id))!;
  const warmSeconds = (performance.now() - t0) / 1000;
  await jobs.stop();
  if (job.state !== 'done') throw new Error(`warm failed: ${job.images[0]?.error}`);
  const t1 = performance.now();
  const copy = spawnSync(
    'skopeo',
    [
      '--insecure-policy',
      'copy',
      '--src-tls-verify=false',
      `docker://127.0.0.1:${port}/bench/warm:${pulled.tag}`,
      `dir:${path.join(dir, 'skopeo-copy')}`,
    ],
    { encoding: 'utf8' },
  );
  const pullSeconds = (performance.now() - t1) / 1000;
  if (copy.status !== 0) throw new Error(`skopeo copy failed: ${copy.stderr}`);
  const warmMiBs = job.totals.bytes / MIB / warmSeconds;
  const pullMiBs = pulled.bytes / MIB / pullSeconds;
  return {
    id: '10',
    label: `warm, cold ${WARM_LAYERS.length} × ${WARM_LAYERS[0]! / MIB} MiB layers`,
    unit: 'MiB/s',
    router: warmMiBs,
    direct: pullMiBs,
    ratio: warmMiBs / pullMiBs,
    goal: 'report',
    pass: true,
    note: `router: regcache warm (4 blobs at a time, digests checked, bodies discarded); direct column: skopeo copy of a same-shaped cold image through the router to dir: (${pullSeconds.toFixed(2)} s)`,
  };
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const dir = await mkdtemp(path.join(tmpdir(), 'regcache-bench-'));
  await chmod(dir, 0o755);
  log(`work dir ${dir}`);
  const hot = generateImage({ seed: 'bench-hot', layers: [BLOB_BYTES] });
  const coldA = generateImage({ seed: 'bench-cold-router', layers: [BLOB_BYTES] });
  const coldB = generateImage({ seed: 'bench-cold-direct', layers: [BLOB_BYTES] });
  const coldOne = generateImage({ seed: 'bench-cold-one', layers: [BLOB_BYTES] });
  const small = generateImage({ seed: 'bench-small', layers: [4096] });
  const warmA = generateImage({ seed: 'bench-warm-a', layers: WARM_LAYERS });
  const warmB = generateImage({ seed: 'bench-warm-b', layers: WARM_LAYERS });
  const imageBytes = (img: typeof hot) => img.config.size + img.layers.reduce((n, l) => n + l.size, 0);
  // Layers are gzipped random data: the blob is a little over 64 MiB.
  const blobPath = (img: typeof hot) => `/v2/bench/app/blobs/${img.layers[0]!.digest}`;

  let upstream: UpstreamRegistry | null = null;
  let daemon: RunningDaemon | null = null;
  let directRegistry: { url: string; stop(): void } | null = null;
  try {
    log('seeding the upstream (4 × 64 MiB layers)');
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [
      { repository: 'bench/app', tag: 'hot', image: hot },
      { repository: 'bench/app', tag: 'cold-a', image: coldA },
      { repository: 'bench/app', tag: 'cold-b', image: coldB },
      { repository: 'bench/app', tag: 'cold-one', image: coldOne },
      { repository: 'bench/app', tag: 'small', image: small },
      { repository: 'bench/warm', tag: 'a', image: warmA },
      { repository: 'bench/warm', tag: 'b', image: warmB },
    ]);

    const port = await findFreePort();
    const baseConfig = `domain: bench.test
listen: "127.0.0.1:${port}"
admin: { listen: "127.0.0.1:${await findFreePort()}" }
runtime: process
dataDir: ./data
registries:
  hub.example:
    upstream: ${upstream.url}
    aliases: [127.0.0.1]
`;
    log('starting regcache');
    daemon = await startRegcache(dir, baseConfig);
    await new Promise((r) => setTimeout(r, 2000));
    const idleRss = await rssBytes(daemon.process.pid!);
    const router: Target = { base: `http://127.0.0.1:${port}`, host: 'hub.example.bench.test' };
    // The cache listens on a unix socket only nginx may use (wrk speaks TCP only): "direct" is a second
    // registry process with the cache's own config and storage on a loopback port.
    directRegistry = await startDirectRegistry(dir, 'hub-example');
    const direct: Target = { base: directRegistry.url, host: null };
    // The registry cache's storage (process runtime), to know when it has stored a blob.
    const storage = path.join(dir, 'data', 'caches', 'hub-example');

    log('warming the hot blob and manifests');
    upstream.clearRequests();
    await curlDownload(router, blobPath(hot));
    await settledGets(upstream, blobPath(hot), storage);
    await curlDownload(direct, blobPath(hot));
    const digestPath = `/v2/bench/app/manifests/${small.manifestDigest}`;
    const tagPath = '/v2/bench/app/manifests/small';
    for (const p of [digestPath, tagPath]) await statusOf(port, router.host!, p);

    const load = sampleRss(daemon.process.pid!);
    log('1. hot blob');
    const rows: ComparisonRow[] = await hotBlob(router, direct, blobPath(hot), hot.layers[0]!.size);
    log('2. manifest by digest');
    rows.push(await requestRate('2', 'manifest by digest', router, direct, digestPath, 0.95));
    log('3. manifest by tag');
    rows.push(await requestRate('3', 'manifest by tag', router, direct, tagPath, 10));
    log('4. cold pull');
    rows.push(...(await coldPull(upstream, storage, router, direct, blobPath(coldA), blobPath(coldB))));
    log('7–8. one copy on disk, cold path');
    rows.push(
      ...(await coldPathRows({
        dataDir: path.join(dir, 'data'),
        storage,
        daemonPid: daemon.process.pid!,
        router,
        upstream: { base: upstream.url, host: null },
        viaRouter: blobPath(coldOne),
        viaUpstream: blobPath(coldOne),
        size: coldOne.layers[0]!.size,
      })),
    );
    rows.push(await proxyFloorRow({ upstream: { base: upstream.url, host: null }, blobPath: blobPath(coldOne), size: coldOne.layers[0]!.size }));
    const loadRss = await load.stop();
    log('10. warm throughput');
    const warmRow = await warmThroughput(dir, baseConfig, port, [
      { tag: 'a', bytes: imageBytes(warmA) },
      { tag: 'b', bytes: imageBytes(warmB) },
    ]);

    log(`5. ${CONFIG_CHANGES} config changes`);
    const changes = await configChanges(daemon, baseConfig, port, digestPath);
    const p50 = percentile(changes.samples, 50);
    const p99 = percentile(changes.samples, 99);
    rows.push({
      id: '5a',
      label: 'config change → route live, p50',
      unit: `ms over ${CONFIG_CHANGES} changes`,
      router: p50,
      direct: null,
      ratio: null,
      goal: '≤ 300 ms',
      pass: p50 <= 300,
    });
    rows.push({
      id: '5b',
      label: 'config change → route live, p99',
      unit: `ms over ${CONFIG_CHANGES} changes`,
      router: p99,
      direct: null,
      ratio: null,
      goal: '≤ 1000 ms',
      pass: p99 <= 1000,
    });
    log('5. 200 registries: render + nginx -t + reload');
    const big = await twoHundredRegistries(path.join(dir, 'synthetic'));
    for (const [id, which, label] of [
      ['5c', 'router', '200 registries: render + validate + reload'],
      ['5d', 'egress', '200 registries: egress nginx render + validate + reload'],
    ] as const) {
      const total = big[which].renderMs + big[which].applyMs;
      rows.push({
        id,
        label,
        unit: 'ms, median of 5',
        router: total,
        direct: null,
        ratio: null,
        goal: '≤ 2000 ms',
        pass: total <= 2000,
        note: `render ${big[which].renderMs.toFixed(1)} ms, nginx -t + swap + reload until the new generation answers ${big[which].applyMs.toFixed(0)} ms`,
      });
    }
    const peakRss = Math.max(loadRss, changes.rssPeak);
    rows.push({ id: '6a', label: 'daemon RSS, idle', unit: 'MiB', router: idleRss / MIB, direct: null, ratio: null, goal: 'report', pass: true });
    rows.push({
      id: '6b',
      label: 'daemon RSS, peak under load',
      unit: 'MiB',
      router: peakRss / MIB,
      direct: null,
      ratio: null,
      goal: 'report',
      pass: true,
      note: 'sampled every 100 ms during benchmarks 1–5a (the daemon is not in the data path; nginx serves)',
    });

    log('9. daemon restart (kill -9, start again) under a pull loop');
    // The file as the config changes above left it: a restart, not a config change (that reloads nginx).
    const liveConfig = await readFile(daemon.configPath, 'utf8');
    const restart = await daemonRestart(dir, daemon, liveConfig, port, router.host!, [digestPath, `/v2/bench/app/blobs/${small.layers[0]!.digest}`]);
    daemon = restart.daemon;
    rows.push({
      id: '9',
      label: 'failed requests during a daemon restart',
      unit: 'requests',
      router: restart.failed,
      direct: null,
      ratio: null,
      goal: '= 0',
      pass: restart.failed === 0,
      note: `kill -9 of regcache run, then a new one on the same dataDir: ${restart.total} cache hits from 3 clients, ready again after ${restart.readyMs} ms`,
    });
    rows.push(warmRow);

    const nginxVersion = /nginx\/(\S+)/.exec(spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr)?.[1] ?? 'unknown';
    const results: BenchResults = {
      measuredAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, nginx: nginxVersion, node: process.version },
      rows,
    };
    await writeFile(path.join(repoRoot, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
    await writeFile(path.join(repoRoot, 'bench', 'results.svg'), svgChart(results));
    process.stdout.write(table(results) + '\n');
    log(`done in ${((Date.now() - startedAt) / 1000).toFixed(0)} s; wrote bench/results.json and bench/results.svg`);
  } finally {
    keepAlive.destroy();
    directRegistry?.stop();
    await daemon?.stop();
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
