// A small fake upstream registry (node http) that misbehaves on demand: it stalls half-way through a
// blob, accepts and never answers, or redirects blob GETs elsewhere. Loopback only.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type FaultMode = 'healthy' | 'slow' | 'stall' | 'hang' | 'redirect';

export interface FaultBlob {
  digest: string;
  data: Buffer;
}

export interface FaultUpstream {
  url: string;
  port: number;
  mode: FaultMode;
  /** Location sent for blob GETs in 'redirect' mode. */
  redirectTo: string;
  /** In 'slow' mode, the pause between two of the 16 parts of a blob (default 400 ms). */
  slowStepMs: number;
  /** GETs of each blob digest the upstream received (any mode). */
  blobGets(digest: string): number;
  addBlob(size: number): FaultBlob;
  /** Serve a blob another upstream has (a CDN for it). */
  addBlobData(blob: FaultBlob): FaultBlob;
  stop(): Promise<void>;
}

export function makeBlob(size: number): FaultBlob {
  const data = randomBytes(size);
  return { data, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` };
}

export async function startFaultUpstream(): Promise<FaultUpstream> {
  const blobs = new Map<string, FaultBlob>();
  const gets = new Map<string, number>();
  const sockets = new Set<Socket>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (upstream.mode === 'hang') return; // accepted, never answered
    res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
    if (url.pathname === '/v2/') {
      res.setHeader('Content-Type', 'application/json');
      return res.end('{}');
    }
    const m = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    const blob = m ? blobs.get(m[1]!) : undefined;
    if (!blob) {
      res.statusCode = 404;
      res.setHeader('Content-Type', 'application/json');
      return res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
    }
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Docker-Content-Digest', blob.digest);
    res.setHeader('Content-Length', String(blob.data.length));
    if (req.method === 'HEAD') return res.end();
    gets.set(blob.digest, (gets.get(blob.digest) ?? 0) + 1);
    if (upstream.mode === 'redirect') {
      res.statusCode = 307;
      res.setHeader('Location', upstream.redirectTo);
      res.setHeader('Content-Length', '0');
      return res.end();
    }
    if (upstream.mode === 'slow') {
      // Keeps sending, 1/16 of the blob every 400 ms: slower in total than a short stallTimeout.
      const step = Math.ceil(blob.data.length / 16);
      let at = 0;
      const next = () => {
        if (res.destroyed) return;
        const chunk = blob.data.subarray(at, at + step);
        at += step;
        if (at >= blob.data.length) return void res.end(chunk);
        res.write(chunk);
        setTimeout(next, upstream.slowStepMs);
      };
      return next();
    }
    if (upstream.mode === 'stall') {
      res.write(blob.data.subarray(0, blob.data.length >> 1));
      return; // headers and half the blob, then nothing
    }
    res.end(blob.data);
  };
  const server = createServer(handle);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const upstream: FaultUpstream = {
    url: `http://127.0.0.1:${port}`,
    port,
    mode: 'healthy',
    redirectTo: '',
    slowStepMs: 400,
    blobGets: (digest) => gets.get(digest) ?? 0,
    addBlob(size) {
      const blob = makeBlob(size);
      blobs.set(blob.digest, blob);
      return blob;
    },
    addBlobData(blob) {
      blobs.set(blob.digest, blob);
      return blob;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return upstream;
}

/** One GET of a blob through the router: status, body received, whether the body was cut short, seconds taken. */
export async function fetchBlob(
  routerUrl: string,
  host: string,
  repository: string,
  digest: string,
  /** Called once, when the first body bytes arrive. */
  onFirstBytes?: () => void,
): Promise<{ status: number; body: Buffer; length: number | null; cut: boolean; seconds: number; error: string | null }> {
  const started = Date.now();
  const http = await import('node:http');
  return new Promise((resolve) => {
    const req = http.get(`${routerUrl}/v2/${repository}/blobs/${digest}`, { headers: { host }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const length = res.headers['content-length'] === undefined ? null : Number(res.headers['content-length']);
      const done = (error: string | null) => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          body,
          length,
          cut: length !== null && body.length < length,
          seconds: (Date.now() - started) / 1000,
          error,
        });
      };
      res.on('data', (c: Buffer) => {
        if (chunks.length === 0) onFirstBytes?.();
        chunks.push(c);
      });
      res.on('end', () => done(null));
      res.on('error', (e) => done(e.message));
      res.on('aborted', () => done('aborted'));
    });
    req.on('error', (e) =>
      resolve({ status: 0, body: Buffer.alloc(0), length: null, cut: true, seconds: (Date.now() - started) / 1000, error: e.message }),
    );
  });
}
