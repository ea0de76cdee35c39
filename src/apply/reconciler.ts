import type { LoadedConfig } from '../config/load.js';
import type { RegcacheConfig } from '../config/model.js';
import type { ConfigProblem, Result } from '../config/problems.js';
import { formatProblem } from '../config/problems.js';
import { desiredState } from '../desired/desired-state.js';
import { egressPlan, egressWanted, NO_EGRESS, type EgressPlan, type EgressSystem } from '../desired/egress-routes.js';
import type { Logger } from '../log.js';
import { isEmptyPlan, planCaches } from '../plan/cache-plan.js';
import type { HealthMonitor } from '../status/health-monitor.js';
import type { DaemonState } from '../status/daemon-state.js';
import type { EventLog } from '../status/event-log.js';
import type { Clock } from '../util/clock.js';
import { sleep } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { NginxConfigRejected, type NginxController } from './nginx/nginx-controller.js';
import { egressNginxView } from './nginx/egress-view.js';
import type { AcceptSupport } from './nginx/nginx-features.js';
import type { NginxPaths, NginxView } from './nginx/nginx-view.js';
import { nginxView } from './nginx/nginx-view.js';
import type { EgressNginxRenderer, NginxRenderer } from './nginx/render.js';
import type { CacheRuntime } from './runtime/cache-runtime.js';
import { noReconcileMetrics, type ReconcileMetrics } from './reconcile-metrics.js';

export type ReconcileOutcome = 'applied' | 'unchanged' | 'rejected' | 'failed';

export interface ReconcileResult {
  outcome: ReconcileOutcome;
  generation: number;
  problems: ConfigProblem[];
  message: string | null;
}

export interface ReconcilerDeps {
  loadConfig: () => Promise<Result<LoadedConfig>>;
  runtime: CacheRuntime;
  nginx: NginxController;
  nginxPaths: NginxPaths;
  /** Resolves the nginx `user` directive (see NginxDriver.workerUser); config's nginx.user when absent. */
  nginxWorkerUser?: (configured: string | null) => Promise<string | null>;
  render: NginxRenderer;
  /** How the router's nginx sees a whole Accept header (NginxDriver.acceptSupport); first line only when absent. */
  nginxAccept?: AcceptSupport;
  health: HealthMonitor;
  state: DaemonState;
  events: EventLog;
  clock: Clock;
  logger: Logger;
  /** How long a new cache may take to answer /v2/ before it is routed anyway (and shown down). */
  cacheReadyTimeoutMs?: number;
  /** Outcome and duration of every pass (regcache_config_reloads_total, regcache_reconcile_duration_seconds). */
  metrics?: ReconcileMetrics;
  /** nginx as the caches' upstream; absent: caches reach their upstreams directly. */
  egress?: EgressDeps;
  /** Why pulls of uncached content are refused now (too little free space under dataDir); null: they are not. */
  diskFull?: () => string | null;
}

export interface EgressDeps {
  /** Caches share the egress nginx's loopback (process runtime, or Docker with host networking). */
  loopback: boolean;
  /** The machine's nameservers and CA bundle, read at each pass. */
  system: () => Promise<EgressSystem>;
  /** A persisted loopback port per cache. */
  portFor: (name: string) => Promise<number>;
  /** The egress nginx (a second nginx process): controller, file paths, renderer, probe port, worker user. */
  nginx: NginxController;
  paths: NginxPaths;
  render: EgressNginxRenderer;
  controlPort: number;
  workerUser?: (configured: string | null) => Promise<string | null>;
}

export type Reconciler = (reason: string) => Promise<ReconcileResult>;

/**
 * One pass: load → validate → plan → start caches → render → nginx -t → swap → reload → probe → stop removed caches.
 * Any failure leaves the last good config serving and is recorded in the daemon state.
 */
export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { state, events, runtime, nginx } = deps;
  const log = deps.logger.child({ component: 'reconciler' });
  /** Names of caches last started in offline mode. */
  const offline = new Set<string>();
  let lastEgressNotes = '';
  let egressGeneration = 0;
  /** What the egress config applied last was made of (see applyEgress). */
  let egressInputs = '';

  const reject = (problems: ConfigProblem[], message: string): ReconcileResult => {
    state.lastError = { message, problems, at: new Date(deps.clock.now()).toISOString() };
    events.record({ kind: 'config', level: 'error', vhost: null, message });
    log.error({ problems }, 'config rejected; the last good config keeps serving');
    return { outcome: 'rejected', generation: state.generation, problems, message };
  };

  const waitHealthy = async (name: string, address: string) => {
    const deadline = deps.clock.now() + (deps.cacheReadyTimeoutMs ?? 15_000);
    while (deps.clock.now() < deadline) {
      if ((await deps.health.checkCache(name, address)).ok) return true;
      await sleep(deps.clock, 50);
    }
    return false;
  };

  const metrics = deps.metrics ?? noReconcileMetrics;
  const timed: Reconciler = async (reason) => {
    const started = deps.clock.now();
    const result = await pass(reason);
    metrics.passFinished({ outcome: result.outcome, seconds: (deps.clock.now() - started) / 1000, generation: state.generation });
    return result;
  };

  const pass: Reconciler = async (reason) => {
    const started = deps.clock.now();
    const loaded = await deps.loadConfig();
    if (!loaded.ok) return reject(loaded.problems, `config rejected: ${loaded.problems.map(formatProblem).join('; ')}`);
    const config = loaded.value.config;
    const restartOnly = restartOnlyProblems(state.applied?.config ?? null, config);
    if (restartOnly.length > 0) return reject(restartOnly, `config rejected: ${restartOnly.map(formatProblem).join('; ')}`);

    // A private upstream CA given for nginx's egress applies to the reachability probe too.
    await Promise.all(config.registries.map((r) => deps.health.ensureUpstreamChecked(r.name, r.upstream, config.egress.caFile)));
    try {
      const egress = await planEgress(config);
      const observed = await runtime.list();
      const running = new Set(observed.map((c) => c.name));
      // Offline mode exists because a proxy cannot *start* without its upstream. A cache already
      // running as a proxy keeps serving its content when the upstream goes away, so it is not
      // restarted for that; an offline cache goes back to proxying once the upstream answers.
      const desired = desiredState(config, (name) => {
        const reachable = deps.health.health(name).upstream?.ok ?? null;
        if (reachable === false && running.has(name) && !offline.has(name)) return null;
        return reachable;
      }, egress);
      for (const spec of desired.caches) {
        if (spec.offline) log.warn({ vhost: spec.name, upstream: spec.upstream }, 'upstream unreachable: cache serves cached content only');
      }
      const plan = planCaches(observed, desired.caches);
      // distribution asks its remote for /v2/ when it starts: a cache's egress must listen before it does.
      const egressApplied = await applyEgress(config, egress);
      if (!egressApplied.ok) return egressApplied.result;
      const startedNow: string[] = [];
      await Promise.all(
        [...plan.start, ...plan.replace].map(async (spec) => {
          const instance = await runtime.ensure(spec);
          if (spec.offline) offline.add(spec.name);
          else offline.delete(spec.name);
          if (plan.start.includes(spec)) startedNow.push(spec.name);
          events.record({ kind: 'runtime', level: 'info', vhost: spec.name, message: `cache ${plan.start.includes(spec) ? 'started' : 'replaced'} at ${instance.address}` });
          if (!(await waitHealthy(spec.name, instance.address))) {
            events.record({ kind: 'runtime', level: 'warn', vhost: spec.name, message: 'cache did not answer /v2/ in time; routing it anyway' });
          }
        }),
      );

      const wanted = new Set(desired.caches.map((c) => c.name));
      const backends = new Map((await runtime.list()).filter((c) => wanted.has(c.name)).map((c) => [c.name, c.address] as const));
      const user = deps.nginxWorkerUser ? await deps.nginxWorkerUser(config.nginx.user) : config.nginx.user;
      // An unreachable upstream is an outage: what its cache does not hold is answered 503, not 404.
      const upstreamDown = new Set(config.registries.filter((r) => deps.health.health(r.name).upstream?.ok === false).map((r) => r.name));
      const view = nginxView({
        config,
        backends,
        paths: deps.nginxPaths,
        generation: state.generation,
        user,
        accept: deps.nginxAccept,
        upstreamDown,
        diskFull: deps.diskFull?.() ?? null,
      });
      const applied = await applyNginx(view, reason);
      if (!applied.ok) {
        // Caches this pass started are not routed; remove them so nothing of the rejected file lingers.
        await Promise.all(startedNow.map((name) => runtime.remove(name).catch(() => undefined)));
        return applied.result;
      }
      const changed = applied.changed;
      state.routed = new Set(view.routes.map((r) => r.name));
      state.egress = new Map(desired.caches.flatMap((c) => (!c.offline && egress.routes.has(c.name) ? [[c.name, egress.routes.get(c.name)!.listen] as const] : [])));

      for (const name of plan.remove) {
        await runtime.remove(name);
        offline.delete(name);
        events.record({ kind: 'runtime', level: 'info', vhost: name, message: 'cache stopped: registry removed from config' });
      }
      const outcome: ReconcileOutcome = changed || !isEmptyPlan(plan) ? 'applied' : 'unchanged';
      state.applied = outcome === 'applied' || !state.applied ? { config, appliedAt: iso(deps.clock) } : { ...state.applied, config };
      state.lastError = null;
      if (outcome === 'applied') {
        events.record({ kind: 'reconcile', level: 'info', vhost: null, message: `applied (${reason}): +${plan.start.length} ~${plan.replace.length} -${plan.remove.length} caches` });
      }
      log.info({ reason, outcome, generation: state.generation, ms: deps.clock.now() - started }, 'reconcile pass done');
      return { outcome, generation: state.generation, problems: [], message: null };
    } catch (err) {
      const message = `apply failed: ${errorMessage(err)}`;
      state.lastReload = { result: 'failed', at: iso(deps.clock), message };
      events.record({ kind: 'reconcile', level: 'error', vhost: null, message });
      log.error({ err: errorMessage(err), reason }, 'reconcile failed; the last good config keeps serving');
      return { outcome: 'failed', generation: state.generation, problems: [], message };
    }
  };
  /** Render, and when the bytes differ: nginx -t → swap → reload → probe. A rejection is a result, other failures throw. */
  const applyNginx = async (
    view: NginxView,
    reason: string,
  ): Promise<{ ok: true; changed: boolean } | { ok: false; result: ReconcileResult }> => {
    let applied: { generation: number; changed: boolean } | null;
    try {
      applied = await applyWhenChanged(nginx, (generation) => deps.render({ ...view, generation }), state.generation, state.nginxServing);
    } catch (err) {
      if (err instanceof NginxConfigRejected) {
        state.lastReload = { result: 'failed', at: iso(deps.clock), message: err.output };
        return { ok: false, result: reject([{ path: '', message: err.message }], err.message) };
      }
      throw err;
    }
    if (!applied) return { ok: true, changed: false };
    const { generation, changed } = applied;
    state.generation = generation;
    state.nginxServing = true;
    state.lastReload = { result: changed ? 'ok' : 'unchanged', at: iso(deps.clock), message: null };
    if (changed) events.record({ kind: 'reload', level: 'info', vhost: null, message: `nginx serves generation ${generation} (${reason})` });
    return { ok: true, changed };
  };

  /** The egress nginx serves the plan's listeners (started, reloaded, or stopped when none is wanted). */
  const applyEgress = async (config: RegcacheConfig, plan: EgressPlan): Promise<{ ok: true } | { ok: false; result: ReconcileResult }> => {
    const e = deps.egress;
    if (!e) return { ok: true };
    const serving = state.egressGeneration > 0;
    // Most passes change the router only: skip resolving the worker user and rendering when nothing
    // the egress config is made of changed since it was applied.
    // The redirect policy reads the allow-list and regcache's own listeners (never a redirect target).
    const ownListeners = [config.listen, config.admin.listen, config.tls?.listen ?? null];
    const inputs = JSON.stringify([[...plan.routes.values()], plan.resolvers, plan.caFile, plan.caMaterial, config.nginx, config.cache, config.egress.redirectAllow, ownListeners]);
    if (serving && inputs === egressInputs) return { ok: true };
    const user = e.workerUser ? await e.workerUser(config.nginx.user) : config.nginx.user;
    const view = egressNginxView({ config, plan, paths: e.paths, generation: egressGeneration, controlPort: e.controlPort, user });
    if (!view) {
      if (serving) {
        await e.nginx.stop();
        state.egressGeneration = 0;
        events.record({ kind: 'reload', level: 'info', vhost: null, message: 'egress nginx stopped: no cache fetches through it' });
      }
      return { ok: true };
    }
    let applied: { generation: number } | null;
    try {
      applied = await applyWhenChanged(e.nginx, (generation) => e.render({ ...view, generation }), egressGeneration, serving);
    } catch (err) {
      if (err instanceof NginxConfigRejected) {
        return { ok: false, result: reject([{ path: 'egress', message: err.message }], `egress ${err.message}`) };
      }
      throw err;
    }
    egressInputs = inputs;
    if (!applied) return { ok: true };
    // Kept apart from state.egressGeneration (0 while stopped) so a restarted egress nginx never reuses a number.
    egressGeneration = applied.generation;
    state.egressGeneration = applied.generation;
    events.record({ kind: 'reload', level: 'info', vhost: null, message: `egress nginx serves generation ${applied.generation} (${view.servers.length} caches)` });
    return { ok: true };
  };

  /** Which caches fetch through nginx; reasons a wanted egress cannot be had are logged once per change. */
  const planEgress = async (config: RegcacheConfig): Promise<EgressPlan> => {
    if (!deps.egress) return NO_EGRESS;
    const e = deps.egress;
    const names = e.loopback ? egressWanted(config) : [];
    const ports = new Map(await Promise.all(names.map(async (name) => [name, await e.portFor(name)] as const)));
    const plan = egressPlan({ config, ports, system: await e.system(), loopback: e.loopback });
    const notes = JSON.stringify(plan.notes);
    if (notes !== lastEgressNotes) {
      lastEgressNotes = notes;
      for (const note of plan.notes) {
        log.warn({ vhost: note.vhost }, note.message);
        events.record({ kind: 'config', level: 'warn', vhost: note.vhost, message: note.message });
      }
    }
    return plan;
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
  if (serving && render(current) === controller.applied()) return null;
  const generation = current + 1;
  const { changed } = await controller.apply(render(generation), generation);
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

function iso(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
