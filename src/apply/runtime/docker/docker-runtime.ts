import type { CacheSpec } from '../../../desired/cache-spec.js';
import type { Logger } from '../../../log.js';
import { backoffDelay } from '../../../util/backoff.js';
import type { Clock, TimerHandle } from '../../../util/clock.js';
import { errorMessage } from '../../../util/errors.js';
import type { CacheInstance, CacheRuntime, RuntimeEvent } from '../cache-runtime.js';
import type { PortBook } from '../port-book.js';
import {
  cacheContainerSpec,
  containerAddresses,
  containerName,
  containerSpecHash,
  containerState,
  decideContainer,
  isHostNetwork,
  LABEL,
  managedLabelFilter,
  observedCacheSpecHash,
  volumeLabels,
  volumeName,
  type DockerRuntimeSettings,
} from './cache-container.js';
import type { ContainerSummary, DockerApi, DockerEvent, EventSubscription } from './docker-api.js';

export interface DockerRuntimeOptions {
  api: DockerApi;
  settings: DockerRuntimeSettings;
  /** Loopback ports per cache for host networking (shared with the process runtime). */
  ports: PortBook;
  clock: Clock;
  logger: Logger;
  /** Describes the endpoint in messages, e.g. unix:///var/run/docker.sock. */
  endpoint: string;
  /** Own resync of containers against what was ensured; events can be missed. Default 30 s. */
  resyncMs?: number;
  /** After an unexpected exit, how long Docker's restart policy gets before regcache starts the container. */
  recoverAfterMs?: number;
  /** First reconnect delay when Docker is unreachable; doubles up to 30 s. */
  reconnectBaseMs?: number;
}

interface Tracked {
  container: ContainerSummary;
  restarts: number;
  lastError: string | null;
  /** Died or vanished without regcache asking; the next start counts as a restart. */
  crashed: boolean;
}

/**
 * Each cache is a registry:2 container, reconciled like a small controller: ensure/remove from the
 * reconciler, Docker events (die/destroy/start) and a periodic resync for recovery, backoff while
 * Docker is unreachable. Only containers carrying our managed + instance labels are ever touched.
 */
export function createDockerRuntime(opts: DockerRuntimeOptions): CacheRuntime {
  const { api, settings, clock } = opts;
  const log = opts.logger.child({ component: 'docker-runtime' });
  const listeners = new Set<(e: RuntimeEvent) => void>();
  /** What the reconciler asked for, by name; recovery recreates these. */
  const wanted = new Map<string, CacheSpec>();
  const tracked = new Map<string, Tracked>();
  /** Container ids regcache itself is stopping or removing: their die/destroy events are expected. */
  const expected = new Set<string>();
  const queues = new Map<string, Promise<unknown>>();
  let dockerError: string | null = null;
  let subscription: EventSubscription | null = null;
  let reconnectAttempt = 0;
  let reconnectTimer: TimerHandle | null = null;
  let resyncTimer: TimerHandle | null = null;
  /** One-shot timers (recovery after a die, forgetting an expected id); stop() clears them all. */
  const oneShots = new Set<TimerHandle>();
  const after = (ms: number, fn: () => void) => {
    const handle = clock.setTimeout(() => {
      oneShots.delete(handle);
      fn();
    }, ms);
    oneShots.add(handle);
  };
  let imageReady: Promise<void> | null = null;
  let networkReady: Promise<void> | null = null;
  let closed = false;

  const emit = (event: RuntimeEvent) => listeners.forEach((l) => l(event));

  /** One operation at a time per cache: ensure, remove and recovery never interleave. */
  const serial = <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const prev = queues.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    queues.set(name, settled);
    void settled.then(() => {
      if (queues.get(name) === settled) queues.delete(name);
    });
    return next;
  };

  const nameOf = (c: ContainerSummary) => c.labels[LABEL.vhost] ?? c.name;

  const track = (c: ContainerSummary): Tracked => {
    const name = nameOf(c);
    const t = tracked.get(name);
    if (t) {
      t.container = c;
      return t;
    }
    const fresh: Tracked = { container: c, restarts: 0, lastError: null, crashed: false };
    tracked.set(name, fresh);
    return fresh;
  };

  const toInstance = (t: Tracked): CacheInstance => {
    const { address, debugAddress } = containerAddresses(t.container, settings);
    return {
      name: nameOf(t.container),
      specHash: observedCacheSpecHash(t.container.labels, settings),
      address,
      debugAddress,
      state: containerState(t.container.status, !t.crashed),
      restarts: t.restarts,
      lastError: dockerError ? `Docker unreachable at ${opts.endpoint}: ${dockerError}` : t.lastError,
    };
  };

  const dockerLost = (err: unknown) => {
    const message = errorMessage(err);
    if (dockerError === null) {
      log.error({ endpoint: opts.endpoint, err: message }, 'Docker unreachable; caches keep their last known state, retrying with backoff');
      emit({ kind: 'error', name: '', message: `Docker unreachable at ${opts.endpoint}: ${message}` });
    }
    dockerError = message;
    scheduleReconnect();
  };

  const dockerBack = () => {
    if (dockerError === null) return;
    dockerError = null;
    reconnectAttempt = 0;
    log.info({ endpoint: opts.endpoint }, 'Docker reachable again; resyncing');
    emit({ kind: 'restarted', name: '', message: `Docker reachable again at ${opts.endpoint}` });
  };

  /** Wraps an API call: a connection failure marks Docker unreachable. */
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      const result = await fn();
      dockerBack();
      return result;
    } catch (err) {
      if (isConnectionError(err)) dockerLost(err);
      throw err;
    }
  };

  const ensureImage = () => {
    imageReady ??= (async () => {
      if (await call(() => api.imageExists(settings.image))) return;
      log.info({ image: settings.image }, 'pulling cache image');
      await call(() => api.pullImage(settings.image, (line) => log.info({ image: settings.image, progress: line }, 'pull progress')));
      log.info({ image: settings.image }, 'cache image pulled');
    })().catch((err) => {
      imageReady = null;
      throw new Error(`image ${settings.image} is not present and could not be pulled: ${errorMessage(err)}`);
    });
    return imageReady;
  };

  const ensureNetwork = () => {
    if (isHostNetwork(settings)) return Promise.resolve();
    networkReady ??= call(() => api.ensureNetwork(settings.network, { [LABEL.managed]: 'true' })).catch((err) => {
      networkReady = null;
      throw err;
    });
    return networkReady;
  };

  const findOwn = async (spec: { slug: string }) => call(() => api.inspectContainer(containerName(spec.slug)));

  const stopAndRemove = async (c: ContainerSummary) => {
    expected.add(c.id);
    try {
      await call(() => api.stopContainer(c.id, 10));
      await call(() => api.removeContainer(c.id));
    } finally {
      // Events for this id may still be in flight; forget it a little later.
      after(10_000, () => expected.delete(c.id));
    }
  };

  const create = async (spec: CacheSpec): Promise<ContainerSummary> => {
    await ensureImage();
    await ensureNetwork();
    const ports = isHostNetwork(settings) ? await opts.ports.portsFor(spec.name) : null;
    await call(() => api.ensureVolume(volumeName(spec.slug), volumeLabels(spec, settings.instance)));
    const id = await call(() => api.createContainer(cacheContainerSpec(spec, settings, ports)));
    await call(() => api.startContainer(id));
    const created = await call(() => api.inspectContainer(id));
    if (!created) throw new Error(`container ${containerName(spec.slug)} vanished right after it was created`);
    return created;
  };

  const ensureNow = async (spec: CacheSpec): Promise<CacheInstance> => {
    const want = containerSpecHash(spec.specHash, settings);
    let found = await findOwn(spec);
    const decision = decideContainer(found, want, settings.instance);
    const name = containerName(spec.slug);
    switch (decision) {
      case 'foreign':
        throw new Error(
          `a container named ${name} exists that this regcache does not manage (no ${LABEL.managed}=true / ${LABEL.instance}=${settings.instance} labels); rename or remove it`,
        );
      case 'keep':
        break;
      case 'start':
        log.info({ cache: spec.name, container: name }, 'starting existing cache container');
        await call(() => api.startContainer(found!.id));
        found = await findOwn(spec);
        break;
      case 'replace':
        log.info({ cache: spec.name, container: name }, 'replacing cache container: its spec changed');
        await stopAndRemove(found!);
        found = await create(spec);
        emit({ kind: 'started', name: spec.name, message: `container ${name} replaced` });
        break;
      case 'create':
        found = await create(spec);
        log.info({ cache: spec.name, container: name, image: settings.image }, 'cache container created');
        emit({ kind: 'started', name: spec.name, message: `container ${name} created` });
        break;
    }
    if (!found) throw new Error(`container ${name} vanished while being started`);
    const t = track(found);
    t.lastError = null;
    return toInstance(t);
  };

  /** Brings one wanted cache back: recreate when gone, start when stopped. */
  const recover = (name: string, why: string) =>
    serial(name, async () => {
      // A recovery queued before stop() must not recreate a container after it.
      if (closed) return;
      const spec = wanted.get(name);
      const t = tracked.get(name);
      if (!spec && !t) return;
      const slugSource = spec ?? { slug: t!.container.name.replace(/^regcache-/, '') };
      const found = await findOwn(slugSource);
      if (found && (found.status === 'running' || found.status === 'restarting')) {
        track(found);
        return;
      }
      if (found && decideContainer(found, found.labels[LABEL.specHash] ?? '', settings.instance) === 'start') {
        log.warn({ cache: name, why }, 'starting cache container that is not running');
        await call(() => api.startContainer(found.id));
        return;
      }
      if (!found && spec) {
        log.warn({ cache: name, why }, 'recreating cache container that disappeared');
        // Its start event counts the restart.
        if (t) t.crashed = true;
        track(await create(spec));
      }
    }).catch((err) => {
      const t = tracked.get(name);
      if (t) t.lastError = `recovery failed: ${errorMessage(err)}`;
      log.error({ cache: name, err: errorMessage(err) }, 'cache recovery failed; retrying at the next resync');
    });

  const onDockerEvent = (e: DockerEvent) => {
    if (closed) return;
    const name = e.labels[LABEL.vhost];
    if (!name || e.labels[LABEL.instance] !== settings.instance) return;
    if (expected.has(e.containerId)) return;
    const t = tracked.get(name);
    switch (e.action) {
      case 'die':
        if (t && t.container.id === e.containerId) {
          t.crashed = true;
          t.container = { ...t.container, status: 'exited' };
          t.lastError = `container exited (code ${e.exitCode ?? 'unknown'})`;
        }
        log.warn({ cache: name, exitCode: e.exitCode }, 'cache container died');
        emit({ kind: 'exited', name, message: `container ${e.name} died (exit code ${e.exitCode ?? 'unknown'}); restarting` });
        // unless-stopped usually restarts it; regcache steps in if Docker does not (e.g. `docker stop`).
        after(opts.recoverAfterMs ?? 2000, () => void recover(name, 'died'));
        break;
      case 'destroy':
        if (t && t.container.id === e.containerId) {
          t.crashed = true;
          t.lastError = 'container was removed outside regcache';
        }
        log.warn({ cache: name }, 'cache container removed outside regcache');
        emit({ kind: 'exited', name, message: `container ${e.name} was removed; recreating` });
        void recover(name, 'destroyed');
        break;
      case 'start':
        if (t && t.crashed) {
          t.crashed = false;
          t.restarts++;
          t.lastError = null;
          t.container = { ...t.container, id: e.containerId, status: 'running' };
          emit({ kind: 'restarted', name, message: `container ${e.name} running again (restart #${t.restarts})` });
        }
        break;
    }
  };

  const resync = async () => {
    const names = new Set([...wanted.keys(), ...tracked.keys()]);
    await Promise.all([...names].map((n) => recover(n, 'resync')));
  };

  const connect = async () => {
    reconnectTimer = null;
    if (closed) return;
    try {
      let ended = false;
      const sub = await api.subscribe(
        { labels: managedLabelFilter(settings.instance), actions: ['die', 'destroy', 'start'] },
        onDockerEvent,
        (err) => {
          ended = true;
          subscription = null;
          if (closed) return;
          dockerLost(err ?? new Error('event stream closed'));
        },
      );
      // stop() ran while subscribing: nobody else would close this stream.
      if (closed) {
        sub.close();
        return;
      }
      // Broke while being set up: onEnd has scheduled the reconnect.
      if (ended) return;
      subscription = sub;
      const wasDown = dockerError !== null;
      dockerBack();
      // Events may have been missed while disconnected: re-list and recover.
      if (wasDown || reconnectAttempt === 0) void resync();
    } catch (err) {
      dockerLost(err);
    }
  };

  function scheduleReconnect() {
    if (closed || reconnectTimer || subscription) return;
    const delay = backoffDelay(reconnectAttempt++, opts.reconnectBaseMs ?? 1000);
    reconnectTimer = clock.setTimeout(() => void connect(), delay);
  }

  const scheduleResync = () => {
    if (closed) return;
    resyncTimer = clock.setTimeout(() => {
      void (dockerError === null ? resync() : Promise.resolve()).finally(scheduleResync);
    }, opts.resyncMs ?? 30_000);
  };

  void connect();
  scheduleResync();

  return {
    kind: 'docker',
    async list() {
      let containers: ContainerSummary[];
      try {
        containers = await call(() => api.listContainers({ labels: managedLabelFilter(settings.instance) }));
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        // Docker gone: report what was last seen, each with the reason.
        return [...tracked.values()].map(toInstance);
      }
      const seen = new Set<string>();
      for (const c of containers) {
        if (!c.labels[LABEL.vhost]) continue;
        seen.add(nameOf(c));
        track(c);
      }
      // A wanted cache that is momentarily gone keeps its entry (and restart count) for its recovery.
      for (const name of [...tracked.keys()]) if (!seen.has(name) && !wanted.has(name)) tracked.delete(name);
      return [...tracked.values()].filter((t) => seen.has(nameOf(t.container))).map(toInstance);
    },
    ensure(spec) {
      wanted.set(spec.name, spec);
      return serial(spec.name, () => ensureNow(spec)).catch((err) => {
        const t = tracked.get(spec.name);
        if (t) t.lastError = errorMessage(err);
        throw err;
      });
    },
    remove(name) {
      wanted.delete(name);
      return serial(name, async () => {
        const all = await call(() => api.listContainers({ labels: [...managedLabelFilter(settings.instance), `${LABEL.vhost}=${name}`] }));
        for (const c of all) {
          await stopAndRemove(c);
          log.info({ cache: name, container: c.name }, 'cache container removed; its volume is kept');
        }
        tracked.delete(name);
        // Like the process runtime: a removed cache gives its loopback ports back.
        if (isHostNetwork(settings)) await opts.ports.release(name);
      });
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      closed = true;
      subscription?.close();
      subscription = null;
      if (reconnectTimer) clock.clearTimeout(reconnectTimer);
      if (resyncTimer) clock.clearTimeout(resyncTimer);
      reconnectTimer = null;
      resyncTimer = null;
      oneShots.forEach((h) => clock.clearTimeout(h));
      oneShots.clear();
      // Containers stay: they keep serving while the daemon restarts, and are adopted on the next start.
      await Promise.all([...queues.values()]);
    },
  };
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EACCES', 'EHOSTUNREACH', 'ENOTFOUND']);

/** A failure to reach the engine, as opposed to the engine answering with an error. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; statusCode?: number; message?: string; cause?: { code?: string } };
  if (e.statusCode !== undefined) return false;
  if (e.code && CONNECTION_CODES.has(e.code)) return true;
  if (e.cause?.code && CONNECTION_CODES.has(e.cause.code)) return true;
  return /socket hang up|timeout|connect /i.test(e.message ?? '');
}
