import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import { networkInterfaces } from 'node:os';
import { access, constants, mkdir, readdir, statfs } from 'node:fs/promises';
import path from 'node:path';
import { startLogRotation } from './apply/log-rotation-schedule.js';
import type { Server } from 'node:http';
import { Registry } from 'prom-client';
import { createContainerNginx } from './apply/nginx/container-nginx.js';
import type { NginxDriver } from './apply/nginx/nginx-driver.js';
import { createNginxController } from './apply/nginx/nginx-controller.js';
import { listenProblem } from './apply/nginx/listen-check.js';
import { createProcessNginx } from './apply/nginx/process-nginx.js';
import { resolveWorkerUser } from './apply/nginx/worker-user.js';
import { createEgressNginxRenderer, createNginxRenderer, readNginxTemplates } from './apply/nginx/render.js';
import { createReconciler, type ReconcileResult } from './apply/reconciler.js';
import { readEgressSystem } from './apply/egress/egress-system.js';
import { sharesLoopback } from './desired/egress-routes.js';
import { createPortBook, portBookFile, type PortBook } from './apply/runtime/port-book.js';
import { processRuntimePaths } from './apply/runtime/process/process-runtime.js';
import { dockerApiFor, selectRuntime, StartupError } from './apply/runtime/select-runtime.js';
import { loadConfigFileSettled } from './config/load.js';
import type { RegcacheConfig } from './config/model.js';
import { routerBaseUrl, routerHost } from './config/router-address.js';
import { registrySlug } from './config/parse.js';
import type { ConfigProblem } from './config/problems.js';
import { watchConfigFile } from './config/watch.js';
import { watchReferencedFiles } from './config/watch-referenced.js';
import { createAdminApp } from './http/admin-app.js';
import { clusterMembership } from './cluster/membership.js';
import { createPeerHealthMonitor } from './cluster/peer-health.js';
import { createHttpPeerProbe } from './cluster/peer-probe.js';
import { createPeerResolver, type LookupAll } from './cluster/peer-resolver.js';
import { inlineScriptHashes } from './http/admin-guard.js';
import type { Logger } from './log.js';
import { createScheduler } from './scheduler/scheduler.js';
import { TRIGGER } from './scheduler/trigger-reasons.js';
import { createDaemonState } from './state/daemon-state.js';
import { createDiskSpaceMonitor } from './observe/disk/disk-space-monitor.js';
import { removeOldFiles, removeStaleUploads } from './observe/disk/stale-uploads.js';
import { egressFailedDir } from './apply/egress/egress-view.js';
import { createEgressController } from './apply/egress/egress-controller.js';
import { createDnsFilterServer } from './apply/egress/dns-filter-server.js';
import { createEventLog } from './state/event-log.js';
import { createHealthMonitor } from './state/health-monitor.js';
import { createPrometheusMetrics } from './status/metrics/prometheus-metrics.js';
import { generatedClientSnippets } from './status/page/client-snippets.js';
import { createStatusPageRenderer, readStatusPageTemplate } from './status/page/render-status-page.js';
import { createStatusService } from './status/status-service.js';
import { createFilesystemStorageInspector } from './observe/storage/filesystem-storage.js';
import { createVolumeStorageInspector, createVolumeStorageRoot } from './observe/storage/volume-storage.js';
import { volumeName } from './apply/runtime/docker/cache-container.js';
import type { DockerApi } from './apply/runtime/docker/docker-api.js';
import { createVhostObserver } from './observe/vhost-observer.js';
import { cacheLayers } from './integrity/cache-layers.js';
import { createIntegrityService } from './integrity/integrity-service.js';
import { createStorageBound } from './integrity/storage-bound.js';
import { effectiveCache } from './config/sections/cache.js';
import { sleep, type Clock } from './util/clock.js';
import { startComponents, type Component } from './util/components.js';
import { errorMessage } from './util/errors.js';
import { findBinary } from './util/find-binary.js';
import { packageRoot } from './util/package-root.js';
import { detectJsModule } from './apply/nginx/nginx-features.js';
import { createRouterClient } from './warm/router-client.js';
import { createWarmJobs } from './warm/warm-jobs.js';
import { createWarmSchedule } from './warm/warm-schedule.js';
import { createPins } from './pin/pins.js';
import { createPinKeeper } from './pin/pin-keeper.js';
import { pinnedEntries } from './pin/pin-model.js';

/** How many more times (1 s apart) a pass asks the dns: name before it gives up finding this node among the answers. */
const DNS_SELF_ATTEMPTS = 10;

export class ConfigInvalidError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super('configuration is invalid');
  }
}

export interface DaemonOptions {
  configPath: string;
  env: Readonly<Record<string, string | undefined>>;
  clock: Clock;
  logger: Logger;
  /** Periodic resync; 30 s by default. */
  resyncMs?: number;
  /** How often upstreams are probed; 30 s by default. */
  upstreamProbeMs?: number;
  /** How often the observer reads the access logs (250 ms), registry counters (15 s) and disk usage (60 s). */
  observe?: { accessLogPollMs?: number; registryVarsPollMs?: number; diskSampleMs?: number };
  /** How often free space under dataDir is measured (5 s) and abandoned uploads are removed (60 s). */
  diskSpace?: { checkMs?: number; cleanupMs?: number };
  /** How often pinned files deleted by the registry's proxy expiry are put back (60 s). */
  pins?: { keepMs?: number };
  /** Cluster: how `dns:` peers are resolved (getaddrinfo by default) and how often (5 s), and how often peers are probed (5 s). */
  cluster?: { lookup?: LookupAll; resolveMs?: number; peerProbeMs?: number };
}

export interface Daemon {
  readonly adminUrl: string;
  /** Re-reads the config and applies it through the scheduler (API reload, SIGHUP). */
  reload(reason?: string): Promise<ReconcileResult>;
  stop(): Promise<void>;
}

/** The composition root of the long-running daemon: builds every collaborator and wires the loop. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  // What runs as soon as it is built (a Docker runtime's event subscription, the nginx drivers) until
  // the components below own it: stopped again, newest first, when a later step of the start throws.
  const built: Component[] = [];
  try {
    return await composeDaemon(opts, built);
  } catch (err) {
    // The one stop function: none of them has a start, so this only stops them, newest first.
    await startComponents(built)
      .then((stop) => stop())
      .catch(() => undefined);
    throw err;
  }
}

async function composeDaemon(opts: DaemonOptions, built: Component[]): Promise<Daemon> {
  const { clock, logger, env } = opts;
  // 50 ms: longer than an editor's truncate-then-write, short next to a reload.
  const loadConfig = () => loadConfigFileSettled(opts.configPath, env, () => sleep(clock, 50));
  const first = await loadConfig();
  if (!first.ok) throw new ConfigInvalidError(first.problems);
  const config = first.value.config;
  await requireWritableDataDir(config.dataDir);

  const ports = createPortBook(portBookFile(config.dataDir), '127.0.0.1', () => [
    config.listen.port,
    config.admin.listen.port,
    ...(config.tls ? [config.tls.listen.port] : []),
    ...(config.cluster ? [config.cluster.listen.port] : []),
  ]);
  // nginx's workers (as root: nginx.user, else nobody) are the only ones besides the daemon that may
  // reach the caches' sockets. Read when a cache starts, so it follows the applied nginx.user.
  const workerGroup = async (): Promise<number | null> => {
    if (process.geteuid?.() !== 0) return null;
    const nginxDir = path.join(config.dataDir, 'nginx');
    await mkdir(nginxDir, { recursive: true });
    const decision = await resolveWorkerUser((state?.applied?.config ?? config).nginx.user, nginxDir);
    return decision.kind === 'account' ? decision.account.gid : 0;
  };
  // One Docker API client for everything that talks to the engine (runtime, nginx container, volumes).
  const docker = dockerApiFor(config, env);
  const runtime = await selectRuntime({ config, env, clock, logger, ports, workerGroup, docker });
  built.push({ name: 'cache runtime', stop: () => runtime.stop() });
  const events = createEventLog(clock);
  const nginxDriver = createNginxDriver(config, env, docker.api, clock, logger, (message) =>
    events.record({ kind: 'runtime', level: 'warn', vhost: null, message }),
  );
  built.push({ name: 'router nginx', stop: () => nginxDriver.stop() });
  // The caches' egress: a second nginx child process, when nginx runs as one (see egress-view.ts).
  const egressNginx = config.nginx.container
    ? null
    : await createEgressNginx(
        config,
        env,
        clock,
        logger,
        ports,
        (message) => events.record({ kind: 'runtime', level: 'warn', vhost: null, message }),
        (reason) => events.record({ kind: 'runtime', level: 'warn', vhost: null, message: `egress DNS answer refused: ${reason}` }),
      );
  if (egressNginx) built.push({ name: 'egress nginx', stop: () => egressNginx.controller.stop() });
  const accept = await nginxDriver.acceptSupport();
  if (!accept.complete) {
    logger.warn(
      'nginx sees only the first Accept line (nginx < 1.23 without the njs module, e.g. Debian libnginx-mod-http-js): Docker tag pulls skip the tag microcache',
    );
  }
  const probeHost = routerHost(config);
  const nginx = createNginxController({ driver: nginxDriver, probeBase: `http://${probeHost}:${config.listen.port}`, clock, logger });
  const state = createDaemonState(config.source);
  const health = createHealthMonitor({ clock, upstreamIntervalMs: opts.upstreamProbeMs });
  let triggerPass: ((reason: string) => void) | null = null;
  const currentConfigNow = () => state.applied?.config ?? config;
  // Free space under dataDir: below cache.minFreeSpace the router refuses what it does not hold (see reconciler).
  const diskSpace = createDiskSpaceMonitor({
    measure: async () => {
      const s = await statfs(config.dataDir);
      return { freeBytes: Number(s.bavail) * Number(s.bsize), totalBytes: Number(s.blocks) * Number(s.bsize) };
    },
    floor: () => currentConfigNow().cache.minFreeSpace,
    cleanUploads: async () => {
      const stall = currentConfigNow().cache.stallTimeoutSeconds;
      // The egress nginx's failed-fetch markers count for 2 s; old ones are only clutter.
      if (egressNginx) await removeOldFiles(egressFailedDir(egressNginx.driver.paths), 60_000, clock.now());
      return removeStaleUploads(await cacheStorageRoots(config, runtime.kind, docker.api), Math.max(2 * stall, 10) * 1000, clock.now());
    },
    // The first measurement comes before the first pass, which reads it anyway.
    onChange: (low) => triggerPass?.(low ? 'disk space low' : 'disk space back'),
    events,
    clock,
    logger,
    intervalMs: opts.diskSpace?.checkMs,
    cleanupEveryMs: opts.diskSpace?.cleanupMs,
  });
  await diskSpace.check();
  // Storage the daemon can see: the process runtime's directories, or the Docker volumes' mountpoints
  // when the daemon runs on the Docker host (else those numbers show as unknown).
  const storage = runtime.kind === 'process' ? processStorage(config) : volumeStorage(docker.api);
  // Only verified bytes in any cache, one copy on disk, cache.maxSize over everything (src/integrity/).
  const layers = cacheLayers({ routerCacheDir: nginxDriver.paths.cache, egressCacheDir: egressNginx?.driver.paths.cache ?? null });
  // Storage regcache may delete from (purge, cache.maxSize): the process runtime's directories, or the
  // Docker volumes' mountpoints when the daemon can write them (its containers run without a descriptor cache).
  const storageRoot =
    runtime.kind === 'process'
      ? async (name: string) => processStorageDir(config, name)
      : createVolumeStorageRoot((name) => docker.api.volumeMountpoint(volumeName(registrySlug(name))));
  // Pinned files are kept as hard links under dataDir, which a volume on another file system cannot have.
  const pinStorageRoot = async (name: string) => (runtime.kind === 'process' ? processStorageDir(config, name) : null);
  // Pinned images (src/pin/): their set is recorded by the warm jobs that fetch them (warmJobs, below).
  const pins = createPins({
    file: path.join(config.dataDir, 'pins', 'pins.json'),
    warm: { start: (request, origin) => warmJobs.start(request, origin) },
    config: () => state.applied?.config ?? null,
    clock,
    logger,
    events,
  });
  await pins.load();
  const storageBound = createStorageBound({
    registries: () => {
      const applied = state.applied?.config;
      return (applied?.registries ?? []).map((r) => ({ name: r.name, maxSizeBytes: effectiveCache(applied!.cache, r.cache).maxSizeBytes }));
    },
    storageRoot,
    routerZone: layers.routerZone,
    clock,
    logger,
    pinned: (name) => pins.pinned(name),
    onPinnedOverBound: (name, over, bytes, max) =>
      events.record({
        kind: 'pin',
        level: over ? 'warn' : 'info',
        vhost: name,
        message: over
          ? `pinned images hold ${bytes} bytes, more than cache.maxSize (${max}): they are kept, everything else is evicted`
          : 'pinned images fit in cache.maxSize again',
      }),
    onEvicted: (name, blobs) =>
      events.record({
        kind: 'integrity',
        level: 'info',
        vhost: name,
        message: `over cache.maxSize: evicted ${blobs.length} least recently used blob(s), ${blobs.reduce((n, b) => n + b.bytes, 0)} bytes`,
      }),
  });
  const pinKeeper = createPinKeeper({
    caches: () => state.applied?.config.registries.map((r) => r.name) ?? [],
    entries: (name) => pinnedEntries(pins.all(), name),
    storageRoot: pinStorageRoot,
    keepDir: path.join(config.dataDir, 'pins', 'keep'),
    clock,
    logger,
    intervalMs: opts.pins?.keepMs,
    onRestored: (name, restored) =>
      events.record({ kind: 'pin', level: 'info', vhost: name, message: `put back ${restored} pinned file(s) the registry's proxy expiry deleted` }),
  });
  const integrity = createIntegrityService({ layers, storageRoot, events, clock, logger, onCommitted: (name) => storageBound.soon(name) });
  const observer = createVhostObserver({
    onAccessEntry: (entry) => integrity.routerEntry(entry),
    onEgressEntry: (entry) => integrity.egressEntry(entry),
    accessLogPath: nginxDriver.paths.accessLog,
    egressLogPath: egressNginx?.driver.paths.accessLog ?? null,
    storage,
    instances: () => runtime.list(),
    vhostNames: () => [...new Set([...(state.applied?.config.registries.map((r) => r.name) ?? []), ...state.routed])],
    // A refused or silent upstream in the egress log is news before the next 30 s probe.
    onUpstreamFailure: (name) => health.recheckUpstream(name),
    mirrorLists: () => ({ lists: state.mirrors, backoffMs: (state.applied?.config.egress.mirrorBackoffSeconds ?? 30) * 1000 }),
    clock,
    logger,
    ...opts.observe,
  });
  // Cluster: the dns: peers name is re-resolved every 5 s; a changed answer is a pass like a config change.
  const peerResolver = createPeerResolver({
    lookup: opts.cluster?.lookup ?? (async (name) => (await lookup(name, { all: true })).map((a) => a.address)),
    clock,
    logger,
    intervalMs: opts.cluster?.resolveMs,
    onChange: (name, before, after) => {
      events.record({
        kind: 'config',
        level: 'info',
        vhost: null,
        message: `cluster: ${name} now answers ${after.join(', ')} (was ${before?.join(', ') ?? 'nothing'})`,
      });
      triggerPass?.(`cluster peers changed`);
    },
  });
  const peerHealth = createPeerHealthMonitor({
    probe: createHttpPeerProbe(),
    target: () => {
      const secret = state.applied?.config.cluster?.secret;
      return state.cluster && secret ? { members: state.cluster.members, secret } : null;
    },
    clock,
    logger,
    intervalMs: opts.cluster?.peerProbeMs,
    onChange: (peer, up, error) =>
      events.record({
        kind: 'probe',
        level: up ? 'info' : 'warn',
        vhost: null,
        message: `cluster peer ${peer} ${up ? 'answers again' : `is down: ${error}`}`,
      }),
  });
  const statusService = createStatusService({
    state,
    runtime,
    health,
    nginx,
    nginxDriver,
    egressDriver: egressNginx?.driver ?? null,
    observer,
    integrity,
    disk: diskSpace,
    peers: peerHealth,
  });
  const metricsRegistry = new Registry();
  const metrics = createPrometheusMetrics({
    registry: metricsRegistry,
    vhosts: () => statusService.vhosts(),
    unrouted: () => {
      const { unroutedRequests, tlsOnPlainRequests } = observer.stats().accessLog;
      return { unknownHost: unroutedRequests, tlsOnPlainPort: tlsOnPlainRequests };
    },
    disk: () => diskSpace.current(),
    pinnedBytes: () => pins.totals().caches,
    cluster: () => statusService.cluster(),
  });
  const templates = readNginxTemplates();
  const reconcile = createReconciler({
    loadConfig,
    // Process runtime: nginx serves blob hits from the caches' storage directories under dataDir.
    blobRoot: runtime.kind === 'process' ? (name) => processStorageDir(config, name) : null,
    egressMarkers: egressNginx ? egressFailedDir(egressNginx.driver.paths) : null,
    runtime,
    nginx,
    nginxPaths: nginxDriver.paths,
    nginxWorkerUser: (configured) => nginxDriver.workerUser(configured),
    render: createNginxRenderer(templates),
    nginxAccept: accept,
    health,
    state,
    events,
    clock,
    logger,
    metrics: metrics.reconcile,
    listenCheck: config.nginx.container ? null : listenProblem,
    egress: createEgressController({
      egress: egressNginx
        ? {
            loopback: sharesLoopback(config, runtime.kind),
            system: () => readEgressSystem(),
            portFor: (name) => ports.egressPortFor(name),
            nginx: egressNginx.controller,
            paths: egressNginx.driver.paths,
            render: createEgressNginxRenderer(templates),
            controlPort: egressNginx.controlPort,
            workerUser: (configured) => egressNginx.driver.workerUser(configured),
            egressJs: egressNginx.egressJs,
            dnsFilter: egressNginx.dnsFilter,
          }
        : null,
      state,
      events,
      logger,
    }),
    diskFull: () => diskSpace.lowMessage(),
    clusterMembership: async (c) => {
      const cluster = c.cluster;
      if (!cluster) return { ok: true, value: null };
      const peers = cluster.peers;
      if (peers.kind === 'static') return clusterMembership({ cluster, resolved: null, ownAddresses: ownAddresses() });
      // A task that just started may not be in its service's DNS yet: ask again for a few seconds.
      for (let attempt = 0; ; attempt++) {
        const resolved = await peerResolver.addresses(peers.name, { fresh: attempt > 0 });
        const result = clusterMembership({ cluster, resolved, ownAddresses: ownAddresses() });
        if (result.ok || attempt >= DNS_SELF_ATTEMPTS) return result;
        await sleep(clock, 1000);
      }
    },
  });
  // Certificates, htpasswd and password files: a renewal or rotation is a config change.
  const referencedWatcher = watchReferencedFiles((event) => {
    logger.debug({ event }, 'referenced file event');
    scheduler.nudge(TRIGGER.referencedFile(event));
  });
  // Warm fetches through the router as a client would; the listen address is read at start only.
  const warmJobs = createWarmJobs({
    client: createRouterClient(routerBaseUrl(config)),
    config: () => state.applied?.config ?? null,
    clock,
    logger,
    pins: pins.sink,
  });
  const warmSchedule = createWarmSchedule({ jobs: warmJobs, clock, logger });
  const scheduler = createScheduler({
    run: async (reasons) => {
      const result = await reconcile(reasons.join(', '));
      await referencedWatcher.update(state.applied?.config.referencedFiles ?? []).catch(() => undefined);
      if (state.applied) {
        // Pins first: the warm entries they come from report to them.
        pins.update(state.applied.config);
        warmSchedule.update(state.applied.config.warm);
      }
      return result;
    },
    clock,
    resyncMs: opts.resyncMs,
  });
  triggerPass = (reason) => scheduler.nudge(reason);
  runtime.onEvent((e) => {
    events.record({ kind: 'runtime', level: e.kind === 'exited' || e.kind === 'error' ? 'warn' : 'info', vhost: e.name || null, message: e.message });
    // A cache came back (possibly at a new address) or went away: re-plan and re-route.
    if (e.kind !== 'started') scheduler.nudge(`runtime ${e.kind} ${e.name}`);
  });

  health.onCacheChange((name, ok, error) => {
    events.record({
      kind: 'probe',
      level: ok ? 'info' : 'warn',
      vhost: name,
      message: ok ? 'cache answers /v2/ again' : `cache stopped answering /v2/: ${error}`,
    });
  });
  health.onUpstreamChange((name, reachable) => {
    events.record({
      kind: 'probe',
      level: reachable ? 'info' : 'warn',
      vhost: name,
      message: `upstream ${reachable ? 'reachable again' : 'unreachable'}`,
    });
    scheduler.nudge(`upstream of ${name} ${reachable ? 'back' : 'lost'}`);
  });
  const reload = (reason: string = TRIGGER.apiReload) => scheduler.trigger(reason, { immediate: true });
  const pageTemplate = readStatusPageTemplate();
  const renderPage = createStatusPageRenderer(pageTemplate);
  const currentConfig = () => state.applied?.config ?? config;
  const app = createAdminApp({
    status: statusService,
    events,
    reload,
    purge: async (name, digest) => {
      // Read what the logs say first, so an entry being verified right now is not left half-known.
      await observer.refresh();
      // A purged pinned digest stays gone (until a pull fetches it again) instead of being put back.
      await pinKeeper.forget(name, digest);
      return integrity.purge(name, digest);
    },
    logger,
    appliedConfig: () => state.applied?.config ?? null,
    metrics,
    warm: warmJobs,
    pins: { pins, pinnedOver: () => storageBound.pinnedOver() },
    page: {
      render: renderPage,
      snippets: () => (state.applied ? generatedClientSnippets(state.applied.config) : []),
      now: () => clock.now(),
      warmJobs: () => warmJobs.list(),
      pins: () => ({ pins: pins.list(), totals: pins.totals(), overMaxSize: Object.fromEntries(storageBound.pinnedOver()) }),
    },
    inlineScriptHashes: inlineScriptHashes(pageTemplate),
    hosts: () => currentConfig().admin.hosts,
    guard: { token: () => currentConfig().admin.token, metricsPublic: () => currentConfig().admin.metricsPublic, clock },
  });
  const healthTargets = async () => {
    const instances = new Map((await runtime.list()).map((i) => [i.name, i]));
    const applied = state.applied?.config;
    return (applied?.registries ?? []).map((r) => ({
      name: r.name,
      upstream: r.upstreams,
      caFile: applied!.egress.caFile,
      instance: instances.get(r.name) ?? null,
    }));
  };
  let server: Server | null = null;
  let stopLogRotation = (): void => undefined;
  let stopConfigWatcher = async (): Promise<void> => undefined;
  // Started in this order, stopped newest first (on a failed start as on stop): the admin API and
  // the observers go first, the scheduler before what its passes drive, then routing, then the caches
  // behind it, and last the egress nginx (caches fetch through it until they stop).
  const components: Component[] = [
    { name: 'egress DNS filter', start: () => egressNginx?.dnsFilter.start(), stop: () => egressNginx?.dnsFilter.stop() },
    { name: 'egress nginx', stop: () => egressNginx?.controller.stop() },
    { name: 'cache runtime', stop: () => runtime.stop() },
    { name: 'router nginx', stop: () => nginx.stop() },
    { name: 'referenced-file watcher', stop: () => referencedWatcher.stop() },
    { name: 'cluster peer resolver', start: () => peerResolver.start(), stop: () => peerResolver.stop() },
    { name: 'scheduler', start: () => scheduler.start(), stop: () => scheduler.stop() },
    { name: 'disk space monitor', start: () => diskSpace.start(), stop: () => diskSpace.stop() },
    {
      name: 'first pass',
      start: async () => {
        const initial = await scheduler.trigger(TRIGGER.startup, { immediate: true });
        if (initial.outcome === 'rejected' || initial.outcome === 'failed') throw new StartupError(initial.message ?? 'initial apply failed');
      },
      stop: () => undefined,
    },
    { name: 'health monitor', start: () => health.start(healthTargets), stop: () => health.stop() },
    { name: 'cluster peer health', start: () => peerHealth.start(), stop: () => peerHealth.stop() },
    {
      name: 'warm',
      start: () => {
        warmSchedule.start();
        pins.refreshApiPins();
      },
      stop: async () => {
        warmSchedule.stop();
        await warmJobs.stop();
        await pins.flush();
      },
    },
    { name: 'pin keeper', start: () => pinKeeper.start(), stop: () => pinKeeper.stop() },
    {
      name: 'log rotation',
      start: () => {
        const rotation = startLogRotation({
          appendDirs: [path.join(config.dataDir, 'logs')],
          reopenDirs: [path.dirname(nginxDriver.paths.accessLog), ...(egressNginx ? [path.dirname(egressNginx.driver.paths.accessLog)] : [])],
          reopen: async () => {
            await nginxDriver.reopenLogs();
            await egressNginx?.driver.reopenLogs();
          },
          clock,
          logger,
        });
        stopLogRotation = () => rotation.stop();
      },
      stop: () => stopLogRotation(),
    },
    {
      name: 'config watcher',
      start: async () => {
        const configWatcher = await watchConfigFile(opts.configPath, (event) => {
          logger.debug({ event }, 'config file event');
          scheduler.nudge(TRIGGER.configFile(event));
        });
        stopConfigWatcher = () => configWatcher.stop();
      },
      stop: () => stopConfigWatcher(),
    },
    { name: 'vhost observer', start: () => observer.start(), stop: () => observer.stop() },
    { name: 'integrity', start: () => integrity.start(), stop: () => integrity.stop() },
    { name: 'storage bound', start: () => storageBound.start(), stop: () => storageBound.stop() },
    {
      name: 'admin API',
      start: async () => {
        const listening = app.listen(config.admin.listen.port, config.admin.listen.host);
        try {
          await once(listening, 'listening');
        } catch (err) {
          throw new StartupError(`admin.listen ${config.admin.listen.host}:${config.admin.listen.port}: ${errorMessage(err)}`);
        }
        server = listening;
      },
      stop: async () => {
        if (!server) return;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server!.close(() => resolve()));
      },
    },
  ];
  // From here the list owns what was built (its first entries stop it on a failed start too).
  built.length = 0;
  const stopComponents = await startComponents(components);
  const adminUrl = `http://${config.admin.listen.host}:${config.admin.listen.port}`;
  logger.info({ admin: adminUrl, generation: state.generation }, 'regcache is running');

  return {
    adminUrl,
    reload,
    async stop() {
      await stopComponents();
      logger.info('regcache stopped');
    },
  };
}

/** This host's IP addresses, to find cluster.self among the peers. */
function ownAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

function processStorageDir(config: RegcacheConfig, name: string): string {
  return processRuntimePaths(config.dataDir, registrySlug(name)).storage;
}

/** Storage roots of the caches, for removing abandoned uploads: the process runtime's directories or the volumes' mountpoints. */
async function cacheStorageRoots(config: RegcacheConfig, kind: 'process' | 'docker', api: DockerApi): Promise<string[]> {
  if (kind === 'process') {
    const dir = path.join(config.dataDir, 'caches');
    return (await readdir(dir).catch(() => [])).map((slug) => path.join(dir, slug));
  }
  const roots = await Promise.all(config.registries.map((r) => api.volumeMountpoint(volumeName(registrySlug(r.name))).catch(() => null)));
  return roots.filter((r): r is string => r !== null);
}

function processStorage(config: RegcacheConfig) {
  return createFilesystemStorageInspector({ storageDir: (name) => processStorageDir(config, name) });
}

function volumeStorage(api: DockerApi) {
  return createVolumeStorageInspector({ mountpoint: (name) => api.volumeMountpoint(volumeName(registrySlug(name))) });
}

/** nginx as a child process, or in an existing container when `nginx.container` is set. */
function createNginxDriver(
  config: RegcacheConfig,
  env: DaemonOptions['env'],
  api: DockerApi,
  clock: Clock,
  logger: Logger,
  onCrash: (message: string) => void,
): NginxDriver {
  if (config.nginx.container) {
    return createContainerNginx({ api, container: config.nginx.container, dir: path.join(config.dataDir, 'nginx'), logger });
  }
  return createProcessNginx({ binary: requireNginxBinary(env), dataDir: config.dataDir, clock, logger, onCrash });
}

function requireNginxBinary(env: DaemonOptions['env']): string {
  const binary = findBinary(['nginx'], env.REGCACHE_NGINX_BIN);
  if (!binary) throw new StartupError('nginx not found: install Debian package nginx, put nginx on PATH, or set REGCACHE_NGINX_BIN');
  return binary;
}

/** A dataDir that cannot be written fails the start with one line naming it, not a stack trace from deep inside. */
async function requireWritableDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (err) {
    // In the container image the config is typically mounted read-only and the volume is elsewhere.
    throw new StartupError(
      `dataDir ${dir} is not writable (${errorMessage(err)}); point dataDir at a writable directory (the container image's volume: /var/lib/regcache)`,
    );
  }
}

/** The egress nginx: its own prefix (dataDir/egress-nginx), and a loopback port that answers its generation probe. */
async function createEgressNginx(
  config: RegcacheConfig,
  env: DaemonOptions['env'],
  clock: Clock,
  logger: Logger,
  ports: PortBook,
  onCrash: (message: string) => void,
  onRefused: (reason: string) => void,
) {
  const binary = requireNginxBinary(env);
  // Stopped after the caches, which are its only clients: there is little left in flight to drain.
  const driver = createProcessNginx({ binary, dataDir: config.dataDir, clock, logger, onCrash, subdir: 'egress-nginx', drainMs: 1000 });
  // A name no registry can have (registry names are DNS names).
  const controlPort = await ports.egressPortFor('.egress');
  const controller = createNginxController({ driver, probeBase: `http://127.0.0.1:${controlPort}`, clock, logger });
  const jsModule = await detectJsModule(binary);
  const egressJs = jsModule ? { module: jsModule, script: path.join(packageRoot(), 'nginx', 'egress.js') } : null;
  if (!egressJs) logger.warn('nginx has no njs module: requests waiting on a stalled blob fetch retry the upstream in turn');
  // nginx's resolver: names that resolve to internal addresses are refused (see dns-filter.ts).
  const dnsFilter = createDnsFilterServer({ port: await ports.egressPortFor('.dns'), logger, onRefused });
  return { driver, controller, controlPort, egressJs, dnsFilter };
}
