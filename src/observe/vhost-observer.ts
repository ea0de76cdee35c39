import type { CacheInstance } from '../state/cache-instance.js';
import type { Logger } from '../log.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { parseAccessLogLine, type AccessLogEntry } from './access-log/access-log-entry.js';
import { blobOutcome, isBlobDownload, isNginxCacheHit } from './access-log/blob-outcome.js';
import { createFileTailer, type FileTailerStats, type TailFs } from './access-log/file-tailer.js';
import { createEgressCounters, parseEgressLogLine, type EgressLogEntry } from './access-log/egress-counters.js';
import { createMirrorCounters, type MirrorLists, type MirrorStats } from './access-log/mirror-counters.js';
import { createPeerCounters } from './access-log/peer-counters.js';
import { createTrafficCounters } from './access-log/traffic-counters.js';
import { createProxyTotals } from './registry-vars/proxy-totals.js';
import { fetchRegistryVars as defaultFetchVars, type FetchRegistryVars } from './registry-vars/registry-vars.js';
import type { CacheStorageInspector } from './storage/cache-storage.js';
import { createDiskUsageSampler } from './storage/disk-usage-sampler.js';
import { vhostNumbers, type VhostCacheStats, type VhostTraffic } from './vhost-numbers.js';

export interface VhostObserverOptions {
  /** nginx's JSON access log (the nginx driver's paths.accessLog). */
  accessLogPath: string;
  /** The egress nginx's JSON access log, when there is an egress nginx. */
  egressLogPath?: string | null;
  storage: CacheStorageInspector;
  /** Caches as the runtime lists them (their debugAddress serves /debug/vars). */
  instances: () => Promise<CacheInstance[]>;
  /** The vhosts to count: anything else in the log is ignored. */
  vhostNames: () => string[];
  clock: Clock;
  logger: Logger;
  fetchVars?: FetchRegistryVars;
  tailFs?: TailFs;
  accessLogPollMs?: number;
  registryVarsPollMs?: number;
  /** Every parsed line of the access logs, after counting (the integrity checks read them too). */
  onAccessEntry?: (entry: AccessLogEntry) => void;
  onEgressEntry?: (entry: EgressLogEntry) => void;
  diskSampleMs?: number;
  /** Called when the egress log shows a cache's upstream unreachable or silent (to probe it now). */
  onUpstreamFailure?: (vhost: string) => void;
  /** The mirror lists the egress nginx serves now (their hop listeners) and egress.mirrorBackoff. */
  mirrorLists?: () => { lists: MirrorLists; backoffMs: number };
}

export interface ObserverStats {
  accessLog: FileTailerStats & { unparsedLines: number; unroutedRequests: number; tlsOnPlainRequests: number };
}

/** Per-vhost numbers from the access log, the registries' expvar and the caches' storage. */
export interface VhostObserver {
  /** Reads the access log to its end and polls every registry's counters, so answers are current. */
  refresh(): Promise<void>;
  numbers(name: string): { traffic: VhostTraffic; cache: VhostCacheStats; mirrors: MirrorStats[] };
  /** Cluster: client requests passed to each peer, by the status it answered (peer → code → count). */
  peerRequests(): Map<string, Map<string, number>>;
  stats(): ObserverStats;
  start(): void;
  stop(): Promise<void>;
}

export function createVhostObserver(opts: VhostObserverOptions): VhostObserver {
  const log = opts.logger.child({ component: 'observer' });
  const sinceMs = opts.clock.now();
  const counters = createTrafficCounters();
  const peerCounters = createPeerCounters();
  const egressCounters = createEgressCounters();
  const mirrorCounters = createMirrorCounters();
  const totals = createProxyTotals();
  const fetchVars = opts.fetchVars ?? defaultFetchVars;
  const varsErrors = new Map<string, string>();
  let unparsed = 0;
  const timers: { tail: TimerHandle | null; vars: TimerHandle | null } = { tail: null, vars: null };
  let stopped = true;

  const configureMirrors = () => {
    const mirrors = opts.mirrorLists?.();
    if (mirrors) mirrorCounters.configure(mirrors.lists, mirrors.backoffMs);
  };
  const syncNames = () => {
    const names = opts.vhostNames();
    counters.retain(names);
    egressCounters.retain(names);
    configureMirrors();
    totals.retain(names);
    return names;
  };

  const tailer = createFileTailer({
    path: opts.accessLogPath,
    clock: opts.clock,
    fs: opts.tailFs,
    onLines: async (lines) => {
      for (const line of lines) {
        const entry = parseAccessLogLine(line);
        if (!entry) {
          unparsed++;
          continue;
        }
        // Cluster: the owner's peer listener logs (and counts) the request as served; here it is a forward.
        if (entry.forwarded) {
          peerCounters.record(entry.forwarded);
          continue;
        }
        let outcome = null;
        if (entry.vhost !== null && isBlobDownload(entry)) {
          const storedAt = isNginxCacheHit(entry) ? undefined : await opts.storage.blobStoredAt(entry.vhost, entry.digest!).catch(() => undefined);
          outcome = blobOutcome(entry, storedAt);
        }
        counters.record(entry, outcome);
        opts.onAccessEntry?.(entry);
      }
    },
  });

  const egressTailer = opts.egressLogPath
    ? createFileTailer({
        path: opts.egressLogPath,
        clock: opts.clock,
        fs: opts.tailFs,
        onLines: async (lines) => {
          configureMirrors();
          for (const line of lines) {
            const entry = parseEgressLogLine(line);
            if (!entry) continue;
            egressCounters.record(entry);
            mirrorCounters.record(entry, opts.clock.now());
            opts.onEgressEntry?.(entry);
            if (entry.upstreamFailed) opts.onUpstreamFailure?.(entry.vhost);
          }
        },
      })
    : null;
  const pollLogs = async () => {
    await tailer.poll();
    await egressTailer?.poll();
  };

  const disk = createDiskUsageSampler({ inspector: opts.storage, names: syncNames, clock: opts.clock, intervalMs: opts.diskSampleMs });

  let varsPoll: Promise<void> | null = null;
  const pollVars = () => {
    varsPoll ??= (async () => {
      const names = new Set(syncNames());
      const instances = (await opts.instances()).filter((i) => names.has(i.name) && i.debugAddress);
      await Promise.all(
        instances.map(async (i) => {
          try {
            const vars = await fetchVars(i.debugAddress!);
            if (!vars) throw new Error('no registry.proxy counters in /debug/vars');
            // Any change of process (restart, replacement) restarts the registry's counters.
            totals.observe(i.name, `${i.specHash}/${i.restarts}/${i.debugAddress}`, vars);
            varsErrors.delete(i.name);
          } catch (err) {
            if (varsErrors.get(i.name) === undefined) log.debug({ vhost: i.name, err: errorMessage(err) }, 'registry /debug/vars not readable');
            varsErrors.set(i.name, errorMessage(err));
          }
        }),
      );
    })().finally(() => {
      varsPoll = null;
    });
    return varsPoll;
  };

  const refresh = async () => {
    syncNames();
    await Promise.all([pollLogs().catch((err) => log.warn({ err: errorMessage(err) }, 'access log read failed')), pollVars()]);
  };

  const every = (key: keyof typeof timers, ms: number, fn: () => Promise<unknown>) => {
    const loop = async () => {
      await fn().catch(() => undefined);
      if (!stopped) timers[key] = opts.clock.setTimeout(() => void loop(), ms);
    };
    void loop();
  };

  return {
    refresh,
    numbers(name) {
      const numbers = vhostNumbers({
        traffic: counters.get(name),
        // The last totals stay in place while a poll fails, so counters never go backwards.
        proxy: totals.totals(name),
        proxyCurrent: !varsErrors.has(name) && totals.totals(name) !== null,
        disk: disk.latest(name),
        egress: egressCounters.get(name),
        sinceMs,
      });
      return { ...numbers, mirrors: mirrorCounters.get(name, opts.clock.now()) };
    },
    peerRequests: () => peerCounters.snapshot(),
    stats() {
      return {
        accessLog: { ...tailer.stats(), unparsedLines: unparsed, unroutedRequests: counters.unrouted(), tlsOnPlainRequests: counters.tlsOnPlain() },
      };
    },
    start() {
      if (!stopped) return;
      stopped = false;
      syncNames();
      // Often: the integrity checks act on these lines, and an unverified entry should not live long.
      every('tail', opts.accessLogPollMs ?? 250, pollLogs);
      every('vars', opts.registryVarsPollMs ?? 15_000, pollVars);
      disk.start();
    },
    async stop() {
      stopped = true;
      for (const t of Object.values(timers)) if (t) opts.clock.clearTimeout(t);
      disk.stop();
      await tailer.close();
      await egressTailer?.close();
    },
  };
}
