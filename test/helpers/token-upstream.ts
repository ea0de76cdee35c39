// A Docker Hub style private upstream: a bearer-token realm in front of a test registry. distribution's
// proxy sends its credentials only to such a realm (never as Basic to the registry), then pulls with the
// token it got back.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BasicAuth } from './push.js';

export interface TokenUpstream {
  url: string;
  /** The token the realm hands out for the right login (one per front, so a test can tell it apart). */
  token: string;
  /** Every /v2/ request: method, path and the Authorization it came with. */
  requests: Array<{ method: string; path: string; authorization: string | null; status: number }>;
  stop(): Promise<void>;
}

/** Serves /token (Basic login → token) and passes /v2/ requests with that token on to `backendUrl`. */
export async function startTokenUpstream(backendUrl: string, login: BasicAuth): Promise<TokenUpstream> {
  const token = `private-${Math.random().toString(36).slice(2)}`;
  const basic = `Basic ${Buffer.from(`${login.username}:${login.password}`).toString('base64')}`;
  const requests: TokenUpstream['requests'] = [];
  const backend = new URL(backendUrl);
  let url = '';
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path.startsWith('/token')) {
      const ok = req.headers.authorization === basic;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(ok ? JSON.stringify({ token, access_token: token, expires_in: 300 }) : '{}');
      return;
    }
    const authorization = req.headers.authorization ?? null;
    const entry = { method: req.method ?? '', path, authorization, status: 0 };
    requests.push(entry);
    if (authorization !== `Bearer ${token}`) {
      entry.status = 401;
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer realm="${url}/token",service="token-upstream"`,
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}\n');
      return;
    }
    const { authorization: _drop, host: _host, ...headers } = req.headers;
    const up = request({ host: backend.hostname, port: backend.port, method: req.method, path, headers }, (r) => {
      entry.status = r.statusCode ?? 0;
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    token,
    requests,
    stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
