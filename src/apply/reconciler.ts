import type { LoadedConfig } from '../config/load.js';
import type { ListenAddress } from '../config/address.js';
import type { RegcacheConfig } from '../config/model.js';
import type { ConfigProblem, Result } from '../config/problems.js';
import { formatProblem } from '../config/problems.js';
import { desiredState } from '../desired/desired-state.js';
import type { Logger } from '../log.js';
import { isEmptyPlan, planCaches, type CachePlan } from '../plan/cache-plan.js';
import type { CacheSpec } from '../desired/cache-spec.js';
import type { HealthMonitor } from '../state/health-monitor.js';
import type { DaemonState } from '../state/daemon-state.js';
import type { EventLog } from '../state/event-log.js';
import type { Clock } from '../util/clock.js';
import { isoTime, sleep } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { NginxConfigRejected, type NginxController } from './nginx/nginx-controller.js';
import type { AcceptSupport } from './nginx/nginx-features.js';
import type { NginxPaths, NginxView } from './nginx/nginx-view.js';
import { nginxView } from './nginx/nginx-view.js';
import type { NginxRenderer } from './nginx/render.js';
import { candidateBytes } from './nginx/candidate.js';
import type { EgressController } from './egress/egress-controller.js';
import type { CacheInstance, CacheRuntime } from './runtime/cache-runtime.js';
import { noReconcileMetrics, type ReconcileMetrics } from '../state/reconcile-metrics.js';
import type { ReconcileOutcome, ReconcileResult } from '../state/reconcile-result.js';
import type { Membership } from '../cluster/membership.js';
import { operatorAsked } from '../scheduler/trigger-reasons.js';

/** Exits of a replaced cache while it is awaited that fail its step before the timeout. */
const CRASHES_BEFORE_FAILING = 3;

export type { ReconcileOutcome, ReconcileResult } from '../state/reconcile-result.js';

export interface ReconcilerDeps {
  loadConfig: () => Promise<Result<LoadedConfig>>;
  runtime: CacheRuntime;
  nginx: NginxController;
  nginxPaths: NginxPaths;
  /** Resolves the nginx `user` directive from config's nginx.user (see NginxDriver.workerUser). */
  nginxWorkerUser: (configured: string | null) => Promise<string | null>;
  render: NginxRenderer;
  /** How the router's nginx sees a whole Accept header (NginxDriver.acceptSupport). */
  nginxAccept: AcceptSupport;
  health: HealthMonitor;
  state: DaemonState;
  events: EventLog;
  clock: Clock;
  logger: Logger;
  /** How long a new cache may take to answer /v2/ before it is routed anyway (and shown down). */
  cacheReadyTimeoutMs?: number;
  /** Outcome and duration of every pass (regcache_config_reloads_total, regcache_reconcile_duration_seconds). */
  metrics?: ReconcileMetrics;
  /** nginx as the caches' upstream: plan, nginx -t, go live, roll back (see egress-controller.ts). */
  egress: EgressController;
  /** Why nginx could not bind a new listen address (see listen-check.ts), null when it can; null: not checked (nginx in a container). */
  listenCheck: ((address: ListenAddress) => Promise<string | null>) | null;
  /** A cache's storage root nginx may serve verified blob files from (NginxRoute.blobRoot); null: none (Docker runtime). */
  blobRoot: ((name: string) => string | null) | null;
  /** Why pulls of uncached content are refused now (too little free space under dataDir); null: they are not. */
  diskFull: () => string | null;
  /** Where the egress nginx writes down what its upstreams answered (NginxView.egressMarkers); null: no egress. */
  egressMarkers: string | null;
  /** The cluster's members and self for a config (null: single node); problems reject the pass like config errors. */
  clusterMembership: (config: RegcacheConfig) => Promise<Result<Membership | null>>;
}

export type Reconciler = (reason: string) => Promise<ReconcileResult>;

/**
 * One pass: load → validate → plan → nginx -t of every candidate → egress → caches → router (swap,
 * reload, probe) → stop removed caches. All or nothing: a failing step puts back what went live
 * before it, so the last good generation serves as a whole; lastError names the step.
 */
export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { state, events, runtime, nginx } = deps;
  const log = deps.logger.child({ component: 'reconciler' });
  /** Names of caches last started in offline mode. */
  const offline = new Set<string>();
  /** The specs of the last pass that went live: what a failed replace goes back to. */
  let lastGoodSpecs = new Map<string, CacheSpec>();

  const reject = (problems: ConfigProblem[], message: string): ReconcileResult => {
    state.lastError = { message, problems, at: isoTime(deps.clock.now()) };
    events.record({ kind: 'config', level: 'error', vhost: null, message });
    log.error({ problems }, 'config rejected; the last good config keeps serving');
    return { outcome: 'rejected', generation: state.generation, problems, message };
  };

  // Config warnings (a certificate missing served hosts) are checked every pass, logged when they change.
  let lastWarnings = '';
  const reportWarnings = (warnings: ConfigProblem[]) => {
    const text = warnings.map(formatProblem).join('; ');
    if (text === lastWarnings) return;
    lastWarnings = text;
    for (const w of warnings) {
      log.warn({ path: w.path }, w.message);
      events.record({ kind: 'config', level: 'warn', vhost: null, message: formatProblem(w) });
    }
  };

  /**
   * Until the cache answers /v2/: 'healthy', 'crashing' (it keeps exiting: three exits, or any exit
   * and still no answer at the timeout) or 'slow' (running, not answering yet when the time is up).
   * A single exit is tolerated: distribution exits when its first ping of the remote fails, and the
   * supervisor's restart usually works.
   */
  const waitHealthy = async ({ name, address, restarts }: CacheInstance): Promise<'healthy' | 'crashing' | 'slow'> => {
    const deadline = deps.clock.now() + (deps.cacheReadyTimeoutMs ?? 15_000);
    const exits = async () => ((await runtime.list()).find((c) => c.name === name)?.restarts ?? restarts) - restarts;
    for (let i = 1; deps.clock.now() < deadline; i++) {
      if ((await deps.health.checkCache(name, address)).ok) return 'healthy';
      if (i % 10 === 0 && (await exits()) >= CRASHES_BEFORE_FAILING) return 'crashing';
      await sleep(deps.clock, 50);
    }
    return (await exits()) > 0 ? 'crashing' : 'slow';
  };

  const metrics = deps.metrics ?? noReconcileMetrics;
  const timed: Reconciler = async (reason) => {
    const started = deps.clock.now();
    const result = await pass(reason);
    metrics.passFinished({ outcome: result.outcome, seconds: (deps.clock.now() - started) / 1000, generation: state.generation });
    return result;
  };

  /** An earlier daemon's nginx processes, still serving: adopt them and the generations they serve. */
  let adoptChecked = false;
  const adoptRunning = async () => {
    adoptChecked = true;
    const router = await nginx.adopt();
    if (router !== null) {
      state.generation = router;
      state.nginxServing = true;
      events.record({ kind: 'runtime', level: 'info', vhost: null, message: `adopted the running nginx (generation ${router})` });
    }
    await deps.egress.adopt();
  };

  /**
   * A cache start that failed takes its vhost down while it is tried (the old cache stops first), so
   * the same file is retried with backoff. Only an operator's request retries at once: the tried
   * cache's own exits (runtime events) and probes would otherwise retry it in a loop.
   */
  let cacheFailure: { text: string; until: number; count: number; result: ReconcileResult } | null = null;

  const pass: Reconciler = async (reason) => {
    const started = deps.clock.now();
    const loaded = await deps.loadConfig();
    if (!loaded.ok) return reject(loaded.problems, `config rejected: ${loaded.problems.map(formatProblem).join('; ')}`);
    const config = loaded.value.config;
    reportWarnings(config.warnings);
    if (cacheFailure && cacheFailure.text === loaded.value.text && !operatorAsked(reason) && started < cacheFailure.until) return cacheFailure.result;
    const result = await passWith(reason, config, started);
    if (result.outcome === 'failed' && result.problems[0]?.path === 'cache start') {
      const count = cacheFailure?.text === loaded.value.text ? cacheFailure.count + 1 : 0;
      cacheFailure = { text: loaded.value.text, count, until: started + Math.min(600_000, 30_000 * 2 ** count), result };
    } else if (result.outcome !== 'failed') {
      cacheFailure = null;
    }
    return result;
  };

  const passWith = async (reason: string, config: RegcacheConfig, started: number): Promise<ReconcileResult> => {
    // How long each step took, in the pass's log line: where a slow apply spends its time.
    let mark = deps.clock.now();
    const ms: Record<string, number> = { load: mark - started };
    const lap = (phase: string) => {
      const now = deps.clock.now();
      ms[phase] = now - mark;
      mark = now;
    };
    const restartOnly = restartOnlyProblems(state.applied?.config ?? null, config);
    if (restartOnly.length > 0) return reject(restartOnly, `config rejected: ${restartOnly.map(formatProblem).join('; ')}`);

    // Membership (static peers, or what dns: answered last) is validated like the config it comes from.
    const membership = await deps.clusterMembership(config);
    if (!membership.ok) return reject(membership.problems, `config rejected: ${membership.problems.map(formatProblem).join('; ')}`);
    const cluster = config.cluster && membership.value ? { config: config.cluster, membership: membership.value } : null;

    // A private upstream CA given for nginx's egress applies to the reachability probe too.
    await Promise.all(config.registries.map((r) => deps.health.ensureUpstreamChecked(r.name, r.upstreams, config.egress.caFile)));
    let step = 'plan';
    try {
      if (!adoptChecked) await adoptRunning();
      const egress = await deps.egress.plan(config);
      const observed = await runtime.list();
      const running = new Set(observed.map((c) => c.name));
      // Caches adopted from an earlier daemon: which of them it started offline.
      for (const c of observed) if (c.offline && !lastGoodSpecs.has(c.name)) offline.add(c.name);
      // Offline mode exists because a proxy cannot *start* without its upstream. A cache already
      // running as a proxy keeps serving its content when the upstream goes away, so it is not
      // restarted for that; an offline cache goes back to proxying once the upstream answers.
      const desired = desiredState(
        config,
        (name) => {
          const reachable = deps.health.health(name).upstream?.ok ?? null;
          if (reachable === false && running.has(name) && !offline.has(name)) return null;
          return reachable;
        },
        egress,
      );
      for (const spec of desired.caches) {
        if (spec.offline) log.warn({ vhost: spec.name, upstream: spec.upstream }, 'upstream unreachable: cache serves cached content only');
      }
      const plan = planCaches(observed, desired.caches);
      const wanted = new Set(desired.caches.map((c) => c.name));
      const user = await deps.nginxWorkerUser(config.nginx.user);
      const egressAddresses = new Map(
        desired.caches.flatMap((c) => (!c.offline && egress.routes.has(c.name) ? [[c.name, egress.routes.get(c.name)!.listen] as const] : [])),
      );
      // An unreachable upstream is an outage: what its cache does not hold is answered 503, not 404.
      const upstreamDown = new Set(config.registries.filter((r) => deps.health.health(r.name).upstream?.ok === false).map((r) => r.name));
      const diskFull = deps.diskFull();
      const routerView = (backends: Map<string, string>) =>
        nginxView({
          config,
          backends,
          paths: deps.nginxPaths,
          generation: state.generation,
          user,
          accept: deps.nginxAccept,
          egress: egressAddresses,
          blobRoot: deps.blobRoot ?? undefined,
          upstreamDown,
          diskFull,
          egressMarkers: deps.egressMarkers,
          cluster,
        });

      lap('plan');
      // 1. Every candidate is validated before any of them goes live.
      step = 'egress nginx -t';
      const egressCandidate = await deps.egress.prepare(config, egress);
      lap('egressTest');
      step = 'router nginx -t';
      // Caches not started yet get a placeholder address: nginx -t checks the file, not the backends.
      const known = new Map(observed.map((c) => [c.name, c.address] as const));
      const provisional = new Map(desired.caches.map((c) => [c.name, known.get(c.name) ?? '127.0.0.1:9'] as const));
      const routerCandidate = candidateBytes(
        nginx,
        (g) => deps.render({ ...routerView(provisional), generation: g }),
        state.generation,
        state.nginxServing,
      );
      lap('routerRender');
      if (routerCandidate) await nginx.test(routerCandidate);
      lap('routerTest');
      step = 'router listen';
      await checkNewListeners(config);
      lap('listen');

      // 2. Live, in order: egress (a cache asks its remote for /v2/ when it starts), caches, router.
      // Each step that went live leaves how to undo it; a failure undoes them all, newest first.
      const undo: Array<{ what: string; run: () => Promise<void> }> = [];
      try {
        step = 'egress reload';
        if (egressCandidate) undo.push(await deps.egress.apply(egressCandidate));
        // Which hop listener is which mirror, before the caches start: a cache's first request (its
        // /v2/ ping at start) may already fail over, and the observer counts it by these.
        state.mirrors = new Map(
          [...egress.routes.values()].flatMap((r) =>
            r.mirrors.length > 0 ? [[r.name, r.mirrors.map((m) => ({ origin: m.origin, hop: m.listen }))] as const] : [],
          ),
        );
        lap('egressReload');
        step = 'cache start';
        const startedNow = await startCaches(plan, undo);
        lap('caches');
        step = 'router reload';
        const backends = new Map((await runtime.list()).filter((c) => wanted.has(c.name)).map((c) => [c.name, c.address] as const));
        const view = routerView(backends);
        const applied = await applyNginx(view, reason);
        lap('routerReload');
        state.routed = new Set(view.routes.map((r) => r.name));
        state.egress = egressAddresses;
        state.cluster = membership.value;
        lastGoodSpecs = new Map(desired.caches.map((c) => [c.name, c] as const));

        // The new generation is live: a cache that will not stop is no reason to undo it (the undo
        // list cannot take the router back). It stays listed by the runtime, so the next pass tries again.
        for (const name of plan.remove) {
          offline.delete(name);
          try {
            await runtime.remove(name);
            events.record({ kind: 'runtime', level: 'info', vhost: name, message: 'cache stopped: registry removed from config' });
          } catch (e) {
            log.warn({ cache: name, err: errorMessage(e) }, 'could not stop a cache removed from config; tried again on the next pass');
            events.record({
              kind: 'runtime',
              level: 'warn',
              vhost: name,
              message: `could not stop the cache of a registry removed from config (tried again on the next pass): ${errorMessage(e)}`,
            });
          }
        }
        const outcome: ReconcileOutcome = applied.changed || !isEmptyPlan(plan) ? 'applied' : 'unchanged';
        state.applied = outcome === 'applied' || !state.applied ? { config, appliedAt: isoTime(deps.clock.now()) } : { ...state.applied, config };
        state.lastError = null;
        if (outcome === 'applied') {
          events.record({
            kind: 'reconcile',
            level: 'info',
            vhost: null,
            message: `applied (${reason}): +${startedNow.length} ~${plan.replace.length} -${plan.remove.length} caches`,
          });
        }
        log.info({ reason, outcome, generation: state.generation, ms: deps.clock.now() - started, phases: ms }, 'reconcile pass done');
        return { outcome, generation: state.generation, problems: [], message: null };
      } catch (err) {
        for (const u of undo.reverse()) {
          await u.run().catch((e) => log.error({ err: errorMessage(e), undo: u.what }, 'could not return to the last good generation'));
        }
        if (undo.length > 0)
          events.record({ kind: 'reconcile', level: 'warn', vhost: null, message: `rolled back: ${undo.map((u) => u.what).join(', ')}` });
        throw err;
      }
    } catch (err) {
      return failed(step, err);
    }
  };

  /** A listen address the live router does not hold yet must be free, or the reload would fail after the caches changed. */
  const checkNewListeners = async (config: RegcacheConfig) => {
    const live = state.nginxServing ? state.applied?.config : null;
    if (!deps.listenCheck || !live) return;
    const held = new Set([live.listen.port, ...(live.tls ? [live.tls.listen.port] : []), ...(live.cluster ? [live.cluster.listen.port] : [])]);
    for (const address of [config.listen, ...(config.tls ? [config.tls.listen] : []), ...(config.cluster ? [config.cluster.listen] : [])]) {
      if (held.has(address.port)) continue;
      const problem = await deps.listenCheck(address);
      if (problem) throw new Error(problem);
    }
  };

  /** A failed step: the last good generation serves; lastError names the step, the next pass retries. */
  const failed = (step: string, err: unknown): ReconcileResult => {
    if (err instanceof NginxConfigRejected) {
      if (step === 'router nginx -t' || step === 'router reload')
        state.lastReload = { result: 'failed', at: isoTime(deps.clock.now()), message: err.output };
      const path = step.startsWith('egress') ? 'egress' : '';
      const message = path ? `egress ${err.message}` : err.message;
      return reject([{ path, message: err.message }], message);
    }
    const message = `apply failed at ${step}: ${errorMessage(err)}`;
    state.lastReload = { result: 'failed', at: isoTime(deps.clock.now()), message };
    state.lastError = { message, problems: [{ path: step, message: errorMessage(err) }], at: isoTime(deps.clock.now()) };
    events.record({ kind: 'reconcile', level: 'error', vhost: null, message });
    log.error({ err: errorMessage(err), step }, 'apply failed; the last good generation keeps serving');
    return { outcome: 'failed', generation: state.generation, problems: state.lastError.problems, message };
  };

  /**
   * Starts new caches and replaces changed ones. A replaced cache must answer /v2/ (it takes over a
   * vhost that worked); a new one is routed anyway and shown down. Undo steps go into `undo`.
   */
  const startCaches = async (plan: CachePlan, undo: Array<{ what: string; run: () => Promise<void> }>): Promise<string[]> => {
    const startedNow: string[] = [];
    const results = await Promise.allSettled(
      [...plan.start, ...plan.replace].map(async (spec) => {
        const isNew = plan.start.includes(spec);
        const previous = lastGoodSpecs.get(spec.name);
        const wasOffline = offline.has(spec.name);
        if (isNew) undo.push({ what: `cache ${spec.name} removed`, run: () => runtime.remove(spec.name) });
        else if (previous) {
          undo.push({
            what: `cache ${spec.name} back on its last good spec`,
            run: async () => {
              await runtime.ensure(previous);
              if (wasOffline) offline.add(spec.name);
              else offline.delete(spec.name);
            },
          });
        }
        const instance = await runtime.ensure(spec);
        if (spec.offline) offline.add(spec.name);
        else offline.delete(spec.name);
        if (isNew) startedNow.push(spec.name);
        events.record({
          kind: 'runtime',
          level: 'info',
          vhost: spec.name,
          message: `cache ${isNew ? 'started' : 'replaced'} at ${instance.address}`,
        });
        const health = await waitHealthy(instance);
        // A replaced cache that cannot run goes back to its last good spec; a new one (nothing to go
        // back to) or a slow one is routed anyway and shown down until it answers.
        if (health === 'crashing' && !isNew) throw new Error(`cache ${spec.name} keeps exiting after its spec changed; see its log`);
        if (health !== 'healthy') {
          events.record({ kind: 'runtime', level: 'warn', vhost: spec.name, message: 'cache did not answer /v2/ in time; routing it anyway' });
        }
      }),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    return startedNow;
  };

  /** Render, and when the bytes differ: nginx -t → swap → reload → probe. Failures throw. */
  const applyNginx = async (view: NginxView, reason: string): Promise<{ changed: boolean }> => {
    const applied = await applyWhenChanged(nginx, (generation) => deps.render({ ...view, generation }), state.generation, state.nginxServing);
    if (!applied) return { changed: false };
    const { generation, changed } = applied;
    state.generation = generation;
    state.nginxServing = true;
    state.lastReload = { result: changed ? 'ok' : 'unchanged', at: isoTime(deps.clock.now()), message: null };
    if (changed) events.record({ kind: 'reload', level: 'info', vhost: null, message: `nginx serves generation ${generation} (${reason})` });
    return { changed };
  };

  return timed;
}

/**
 * nginx -t → swap → reload → probe, unless nginx already serves these bytes. `render` gives the config
 * at a generation; null when nothing changed. A rejected config throws NginxConfigRejected.
 */
async function applyWhenChanged(
  controller: NginxController,
  render: (generation: number) => string,
  current: number,
  serving: boolean,
): Promise<{ generation: number; changed: boolean } | null> {
  const bytes = candidateBytes(controller, render, current, serving);
  if (bytes === null) return null;
  const generation = current + 1;
  const { changed } = await controller.apply(bytes, generation);
  return { generation, changed };
}

/** Settings the running daemon cannot take live. */
function restartOnlyProblems(current: RegcacheConfig | null, next: RegcacheConfig): ConfigProblem[] {
  if (!current) return [];
  const problems: ConfigProblem[] = [];
  const needsRestart = (path: string) => problems.push({ path, message: 'changes only with a daemon restart; not applied' });
  if (current.dataDir !== next.dataDir) needsRestart('dataDir');
  if (current.runtime !== next.runtime) needsRestart('runtime');
  for (const key of ['image', 'network', 'socket'] as const) if (current.docker[key] !== next.docker[key]) needsRestart(`docker.${key}`);
  if (current.nginx.container !== next.nginx.container) needsRestart('nginx.container');
  if (current.admin.listen.host !== next.admin.listen.host || current.admin.listen.port !== next.admin.listen.port) needsRestart('admin.listen');
  return problems;
}
