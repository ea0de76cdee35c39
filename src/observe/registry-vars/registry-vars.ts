/** One of distribution's proxy counter groups, as published on its debug listener's /debug/vars. */
export interface ProxyCounters {
  requests: number;
  hits: number;
  misses: number;
  bytesPulled: number;
  bytesPushed: number;
}

/** `registry.proxy.{manifests,blobs}` of distribution's expvar. */
export interface RegistryProxyVars {
  manifests: ProxyCounters;
  blobs: ProxyCounters;
}

export const zeroCounters = (): ProxyCounters => ({ requests: 0, hits: 0, misses: 0, bytesPulled: 0, bytesPushed: 0 });

function counters(raw: unknown): ProxyCounters | null {
  if (raw === null || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  const out = zeroCounters();
  const fields: Array<[keyof ProxyCounters, string]> = [
    ['requests', 'Requests'],
    ['hits', 'Hits'],
    ['misses', 'Misses'],
    ['bytesPulled', 'BytesPulled'],
    ['bytesPushed', 'BytesPushed'],
  ];
  for (const [key, name] of fields) {
    const v = r[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return null;
    out[key] = v;
  }
  return out;
}

/** Picks the proxy counters out of a /debug/vars document; null when it has none (not a proxy, another version). */
export function parseRegistryVars(doc: unknown): RegistryProxyVars | null {
  const proxy = (doc as { registry?: { proxy?: { manifests?: unknown; blobs?: unknown } } } | null)?.registry?.proxy;
  if (!proxy) return null;
  const manifests = counters(proxy.manifests);
  const blobs = counters(proxy.blobs);
  return manifests && blobs ? { manifests, blobs } : null;
}

export type FetchRegistryVars = (debugAddress: string) => Promise<RegistryProxyVars | null>;

export const fetchRegistryVars: FetchRegistryVars = async (debugAddress) => {
  const res = await fetch(`http://${debugAddress}/debug/vars`, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`GET /debug/vars: HTTP ${res.status}`);
  }
  return parseRegistryVars(await res.json());
};
