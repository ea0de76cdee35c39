// A small fake upstream registry that can answer a digest with the wrong bytes ("poisoned") and be
// "fixed" again. Blobs and manifests are served by digest; every request is counted.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeContent {
  data: Buffer;
  mediaType: string;
}

export interface PoisoningUpstream {
  url: string;
  /** Content by digest (`sha256:…`), for blobs and manifests alike; manifests also by tag (`repo:tag`). */
  content: Map<string, FakeContent>;
  /** Digests answered with these bytes instead of their content, until removed. */
  poisoned: Map<string, Buffer>;
  /** GET requests per path. */
  gets(path: string): number;
  stop(): Promise<void>;
}

export async function startPoisoningUpstream(): Promise<PoisoningUpstream> {
  const content = new Map<string, FakeContent>();
  const poisoned = new Map<string, Buffer>();
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    if (req.method === 'GET') counts.set(url, (counts.get(url) ?? 0) + 1);
    res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
    if (url === '/v2/' || url === '/v2') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(blobs|manifests)\/([^/]+)$/.exec(url);
    const key = m ? (m[3]!.startsWith('sha256:') ? m[3]! : `${m[1]}:${m[3]}`) : '';
    const item = content.get(key);
    if (!m || !item) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}');
      return;
    }
    const digest = key.startsWith('sha256:') ? key : [...content.entries()].find(([k, v]) => k.startsWith('sha256:') && v === item)![0];
    const body = poisoned.get(digest) ?? item.data;
    res.writeHead(200, {
      'content-type': item.mediaType,
      'content-length': String(body.length),
      'docker-content-digest': digest,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    content,
    poisoned,
    gets: (path) => counts.get(path) ?? 0,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
