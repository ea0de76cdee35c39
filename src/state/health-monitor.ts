import type { Clock, TimerHandle } from '../util/clock.js';
import { probeCache, probeUpstream, type ProbeResult } from './probes.js';

export interface VhostHealth {
  cache: ProbeResult | null;
  cacheCheckedAt: number | null;
  upstream: ProbeResult | null;
  upstreamCheckedAt: number | null;
}

/** One upstream URL, or a registry's mirrors in order: reachable when any of them answers. */
export type UpstreamTarget = string | readonly string[];

export interface HealthTarget {
  name: string;
  upstream: UpstreamTarget;
  /** CA bundle an https upstream is verified against (egress.caFile); null: the system's. */
  caFile: string | null;
  /** The running cache (a runtime's CacheInstance) when there is one; only its address is probed. */
  instance: { address: string } | null;
}

export interface HealthMonitor {
  health(name: string): VhostHealth;
  /** Probe one cache now (used right after starting it). */
  checkCache(name: string, address: string): Promise<ProbeResult>;
  /** Probe one upstream now unless a result for this upstream URL exists already. */
  ensureUpstreamChecked(name: string, upstream: UpstreamTarget, caFile: string | null): Promise<ProbeResult>;
  /** Probe a vhost's upstream again now (at most every 2 s): traffic says it may have gone away. */
  recheckUpstream(name: string): void;
  /** Called when an upstream's reachability flips. */
  onUpstreamChange(listener: (name: string, reachable: boolean) => void): void;
  /** Called when a cache's /v2/ probe flips between answering and not (not on its first result). */
  onCacheChange(listener: (name: string, ok: boolean, error: string | null) => void): void;
  start(targets: () => Promise<HealthTarget[]>): void;
  stop(): void;
}

export interface HealthMonitorOptions {
  clock: Clock;
  cacheIntervalMs?: number;
  upstreamIntervalMs?: number;
  probeCache?: typeof probeCache;
  probeUpstream?: (upstream: string, caFile: string | null) => Promise<ProbeResult>;
}

/** Periodic probes of every cache (/v2/) and every upstream; results kept per vhost. */
export function createHealthMonitor(opts: HealthMonitorOptions): HealthMonitor {
  const results = new Map<string, VhostHealth>();
  const cacheProbe = opts.probeCache ?? probeCache;
  const probeOne = opts.probeUpstream ?? ((upstream: string, caFile: string | null) => probeUpstream(upstream, undefined, caFile));
  const upstreamProbe = (target: UpstreamTarget, caFile: string | null) =>
    typeof target === 'string' ? probeOne(target, caFile) : probeMirrors(target, caFile, probeOne);
  const cacheEvery = opts.cacheIntervalMs ?? 5000;
  const upstreamEvery = opts.upstreamIntervalMs ?? 30_000;
  let timer: TimerHandle | null = null;
  const upstreamListeners: Array<(name: string, reachable: boolean) => void> = [];
  const cacheListeners: Array<(name: string, ok: boolean, error: string | null) => void> = [];
  // Only periodic probes notify: checkCache polls a cache that is still starting, which is no news.
  const recordCache = (name: string, e: VhostHealth, result: ProbeResult, notify: boolean) => {
    const before = e.cache?.ok;
    e.cache = result;
    e.cacheCheckedAt = opts.clock.now();
    if (notify && before !== undefined && before !== result.ok) cacheListeners.forEach((l) => l(name, result.ok, result.error));
  };
  /** The upstream (URL and CA) each vhost's result is for: a registry pointed elsewhere is probed afresh. */
  const probedTarget = new Map<string, string>();
  const probedArgs = new Map<string, { upstream: UpstreamTarget; caFile: string | null }>();
  const rechecking = new Set<string>();
  const targetKey = (upstream: UpstreamTarget, caFile: string | null) =>
    `${typeof upstream === 'string' ? upstream : upstream.join(' ')}|${caFile ?? ''}`;
  const recordUpstream = (name: string, e: VhostHealth, result: ProbeResult, upstream: UpstreamTarget, caFile: string | null) => {
    const key = targetKey(upstream, caFile);
    const sameUpstream = probedTarget.get(name) === key;
    probedTarget.set(name, key);
    probedArgs.set(name, { upstream, caFile });
    const before = sameUpstream ? e.upstream?.ok : undefined;
    e.upstream = result;
    e.upstreamCheckedAt = opts.clock.now();
    if (before !== undefined && before !== result.ok) upstreamListeners.forEach((l) => l(name, result.ok));
  };
  let stopped = false;
  let runs = 0;

  const entry = (name: string) => {
    let e = results.get(name);
    if (!e) results.set(name, (e = { cache: null, cacheCheckedAt: null, upstream: null, upstreamCheckedAt: null }));
    return e;
  };

  const tick = async (targets: () => Promise<HealthTarget[]>) => {
    const now = opts.clock.now();
    const list = await targets();
    const names = new Set(list.map((t) => t.name));
    for (const name of results.keys()) {
      if (names.has(name)) continue;
      results.delete(name);
      probedTarget.delete(name);
      probedArgs.delete(name);
    }
    await Promise.all(
      list.map(async (t) => {
        const e = entry(t.name);
        if (t.instance) {
          recordCache(t.name, e, await cacheProbe(t.instance.address), true);
        } else {
          e.cache = null;
        }
        const key = targetKey(t.upstream, t.caFile);
        if (e.upstreamCheckedAt === null || now - e.upstreamCheckedAt >= upstreamEvery || probedTarget.get(t.name) !== key) {
          recordUpstream(t.name, e, await upstreamProbe(t.upstream, t.caFile), t.upstream, t.caFile);
        }
      }),
    );
  };

  return {
    health: (name) => entry(name),
    async checkCache(name, address) {
      const e = entry(name);
      recordCache(name, e, await cacheProbe(address), false);
      return e.cache!;
    },
    async ensureUpstreamChecked(name, upstream, caFile) {
      const e = entry(name);
      const key = targetKey(upstream, caFile);
      if (!e.upstream || probedTarget.get(name) !== key) recordUpstream(name, e, await upstreamProbe(upstream, caFile), upstream, caFile);
      return e.upstream!;
    },
    recheckUpstream(name) {
      const args = probedArgs.get(name);
      const e = results.get(name);
      if (!args || !e || rechecking.has(name) || (e.upstreamCheckedAt !== null && opts.clock.now() - e.upstreamCheckedAt < 2000)) return;
      rechecking.add(name);
      void upstreamProbe(args.upstream, args.caFile)
        .then((result) => {
          if (probedArgs.get(name) === args) recordUpstream(name, e, result, args.upstream, args.caFile);
        })
        .catch(() => undefined)
        .finally(() => rechecking.delete(name));
    },
    onUpstreamChange(listener) {
      upstreamListeners.push(listener);
    },
    onCacheChange(listener) {
      cacheListeners.push(listener);
    },
    start(targets) {
      stopped = false;
      // A tick still running from before a stop() must not arm a second loop beside this one.
      const run = ++runs;
      const loop = async () => {
        await tick(targets).catch(() => undefined);
        if (!stopped && run === runs) timer = opts.clock.setTimeout(() => void loop(), cacheEvery);
      };
      void loop();
    },
    stop() {
      stopped = true;
      if (timer) opts.clock.clearTimeout(timer);
      timer = null;
    },
  };
}

/**
 * A mirror list is down only when every mirror is: they are probed in order and the first that answers
 * settles it. The error of a list that is all down names each mirror's.
 */
export async function probeMirrors(
  mirrors: readonly string[],
  caFile: string | null,
  probe: (upstream: string, caFile: string | null) => Promise<ProbeResult>,
): Promise<ProbeResult> {
  if (mirrors.length === 1) return probe(mirrors[0]!, caFile);
  const errors: string[] = [];
  let last: ProbeResult = { ok: false, status: null, error: 'no mirror' };
  for (const mirror of mirrors) {
    last = await probe(mirror, caFile);
    if (last.ok) return last;
    errors.push(`${mirror}: ${last.error ?? 'unreachable'}`);
  }
  return { ok: false, status: last.status, error: `all ${mirrors.length} mirrors unreachable (${errors.join('; ')})` };
}
