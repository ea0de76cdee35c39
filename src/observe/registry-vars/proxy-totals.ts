import { zeroCounters, type ProxyCounters, type RegistryProxyVars } from './registry-vars.js';

const add = (a: ProxyCounters, b: ProxyCounters): ProxyCounters => ({
  requests: a.requests + b.requests,
  hits: a.hits + b.hits,
  misses: a.misses + b.misses,
  bytesPulled: a.bytesPulled + b.bytesPulled,
  bytesPushed: a.bytesPushed + b.bytesPushed,
});

const wentBack = (now: ProxyCounters, before: ProxyCounters) => (Object.keys(now) as Array<keyof ProxyCounters>).some((k) => now[k] < before[k]);

/**
 * A registry's expvar counters start from zero whenever its process or container restarts. This keeps
 * monotonic totals across restarts: a new instance (another key) or any counter going backwards closes
 * the previous instance's counts into a base. Counts between the last observation and a restart are lost.
 */
export interface ProxyTotals {
  observe(name: string, instanceKey: string, vars: RegistryProxyVars): void;
  totals(name: string): RegistryProxyVars | null;
  retain(names: Iterable<string>): void;
}

export function createProxyTotals(): ProxyTotals {
  const state = new Map<string, { key: string; base: RegistryProxyVars; last: RegistryProxyVars }>();
  return {
    observe(name, instanceKey, vars) {
      const s = state.get(name);
      if (!s) {
        state.set(name, { key: instanceKey, base: { manifests: zeroCounters(), blobs: zeroCounters() }, last: vars });
        return;
      }
      if (s.key !== instanceKey || wentBack(vars.manifests, s.last.manifests) || wentBack(vars.blobs, s.last.blobs)) {
        s.base = { manifests: add(s.base.manifests, s.last.manifests), blobs: add(s.base.blobs, s.last.blobs) };
        s.key = instanceKey;
      }
      s.last = vars;
    },
    totals(name) {
      const s = state.get(name);
      return s ? { manifests: add(s.base.manifests, s.last.manifests), blobs: add(s.base.blobs, s.last.blobs) } : null;
    },
    retain(names) {
      const keep = new Set(names);
      for (const name of state.keys()) if (!keep.has(name)) state.delete(name);
    },
  };
}
