import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';

export interface ProbeResult {
  ok: boolean;
  status: number | null;
  error: string | null;
}

/** A cache is healthy when its registry answers GET /v2/ with 200. `address` is host:port or unix:/path. */
export async function probeCache(address: string, timeoutMs = 2000): Promise<ProbeResult> {
  if (address.startsWith('unix:')) return probeSocket(address.slice('unix:'.length), '/v2/', timeoutMs, (status) => status === 200);
  return probe(`http://${address}/v2/`, timeoutMs, (status) => status === 200);
}

/** GET over a unix socket (a cache that listens only there; see process-runtime.ts). */
function probeSocket(socketPath: string, urlPath: string, timeoutMs: number, healthy: (status: number) => boolean): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: urlPath, timeout: timeoutMs, agent: false, headers: { host: 'localhost' } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({ ok: healthy(status), status, error: healthy(status) ? null : `HTTP ${status}` });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ ok: false, status: null, error: (err as { code?: string }).code ?? err.message }));
  });
}

/**
 * An upstream is reachable when it answers /v2/ at all below 500 (401 with a token challenge is normal).
 * With `caFile` (egress.caFile) an https upstream is verified against that bundle, as nginx's egress does.
 */
export async function probeUpstream(upstream: string, timeoutMs = 5000, caFile: string | null = null): Promise<ProbeResult> {
  const healthy = (status: number) => status < 500;
  if (caFile && upstream.startsWith('https:')) return probeWithCa(`${upstream}/v2/`, timeoutMs, caFile, healthy);
  return probe(`${upstream}/v2/`, timeoutMs, healthy);
}

async function probeWithCa(url: string, timeoutMs: number, caFile: string, healthy: (status: number) => boolean): Promise<ProbeResult> {
  let ca: string;
  try {
    ca = await readFile(caFile, 'utf8');
  } catch (err) {
    return { ok: false, status: null, error: `cannot read ${caFile}: ${(err as Error).message}` };
  }
  return new Promise((resolve) => {
    const req = https.get(url, { ca, timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({ ok: healthy(status), status, error: healthy(status) ? null : `HTTP ${status}` });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ ok: false, status: null, error: (err as { code?: string }).code ?? err.message }));
  });
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
