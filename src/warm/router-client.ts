import { createHash } from 'node:crypto';
import { Agent, request, type IncomingMessage } from 'node:http';
import { MANIFEST_ACCEPT } from './manifest.js';

/** What warm asks of the router: a client's pull, by vhost. The port the warm engine uses. */
export interface RouterClient {
  manifest(host: string, repository: string, reference: string): Promise<{ body: Buffer; contentType: string | null; digest: string }>;
  /** Downloads a blob, reporting bytes as they arrive; resolves with its size once its digest checked out. */
  blob(host: string, repository: string, digest: string, onBytes: (n: number) => void): Promise<number>;
  close(): void;
}

/** A registry error as a short reason: `403 DENIED: …`, or the status alone. */
async function failure(res: IncomingMessage, what: string): Promise<Error> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    if (size < 4096) chunks.push(c);
    size += c.length;
  }
  let detail = '';
  try {
    const err = JSON.parse(Buffer.concat(chunks).toString('utf8')).errors?.[0];
    if (err?.code) detail = `: ${err.code}${err.message ? ` (${err.message})` : ''}`;
  } catch {
    // not a registry error body
  }
  return new Error(`${what}: HTTP ${res.statusCode}${detail}`);
}

/** The RouterClient over plain http to the router's address, with the cache's vhost as Host. */
export function createRouterClient(baseUrl: string, opts: { timeoutMs?: number } = {}): RouterClient {
  const base = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const get = (host: string, path: string, headers: Record<string, string> = {}) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        {
          hostname: base.hostname.replace(/^\[|\]$/g, ''),
          port: base.port || 80,
          path,
          method: 'GET',
          agent,
          headers: { host, 'user-agent': 'regcache-warm', ...headers },
        },
        resolve,
      );
      // An idle socket for this long (a stalled upstream) fails the fetch instead of hanging the job.
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no data for ${timeoutMs / 1000} s`)));
      req.on('error', reject);
      req.end();
    });
  return {
    async manifest(host, repository, reference) {
      const what = `manifest ${repository}:${reference}`;
      const res = await get(host, `/v2/${repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
      if (res.statusCode !== 200) throw await failure(res, what);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > 4 * 1024 * 1024) throw new Error(`${what}: larger than 4 MiB`);
        chunks.push(c);
      }
      const body = Buffer.concat(chunks);
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      if (reference.startsWith('sha256:') && digest !== reference) throw new Error(`${what}: content has digest ${digest}`);
      return { body, contentType: (res.headers['content-type'] as string | undefined) ?? null, digest };
    },
    async blob(host, repository, digest, onBytes) {
      const what = `blob ${digest}`;
      const res = await get(host, `/v2/${repository}/blobs/${digest}`);
      if (res.statusCode !== 200) throw await failure(res, what);
      const hash = createHash('sha256');
      let size = 0;
      for await (const c of res as AsyncIterable<Buffer>) {
        hash.update(c);
        size += c.length;
        onBytes(c.length);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) throw new Error(`${what}: content has digest ${actual} (${size} bytes)`);
      return size;
    },
    close: () => agent.destroy(),
  };
}
