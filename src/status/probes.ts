export interface ProbeResult {
  ok: boolean;
  status: number | null;
  error: string | null;
}

/** A cache is healthy when its registry answers GET /v2/ with 200. */
export async function probeCache(address: string, timeoutMs = 2000): Promise<ProbeResult> {
  return probe(`http://${address}/v2/`, timeoutMs, (status) => status === 200);
}

/** An upstream is reachable when it answers /v2/ at all below 500 (401 with a token challenge is normal). */
export async function probeUpstream(upstream: string, timeoutMs = 5000): Promise<ProbeResult> {
  return probe(`${upstream}/v2/`, timeoutMs, (status) => status < 500);
}

async function probe(url: string, timeoutMs: number, healthy: (status: number) => boolean): Promise<ProbeResult> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await res.body?.cancel();
    return { ok: healthy(res.status), status: res.status, error: healthy(res.status) ? null : `HTTP ${res.status}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { ok: false, status: null, error: cause?.code ?? cause?.message ?? (err as Error).message };
  }
}
