// The admin app as the daemon builds it (createAdminApp), driven over HTTP with hand-set Host,
// Origin and Sec-Fetch-Site headers: DNS rebinding and cross-site requests from a browser on the
// same machine are refused, and a wrong-token flood never locks out the right token.
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReconcileResult } from '../../../src/apply/reconciler.js';
import { createAdminApp } from '../../../src/http/admin-app.js';
import { crossSite, hostAllowed } from '../../../src/http/request-origin.js';
import { createLogger } from '../../../src/log.js';
import { createEventLog } from '../../../src/state/event-log.js';
import { createPrometheusMetrics } from '../../../src/status/metrics/prometheus-metrics.js';
import type { StatusService } from '../../../src/status/status-service.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

const TOKEN = 'the-right-admin-token-0123456789';

async function serve(opts: { token?: string | null; hosts?: string[] } = {}) {
  const clock = createFakeClock(5_000_000);
  let reloads = 0;
  const status = {
    vhosts: async () => [],
    status: async () => ({ generation: 3 }),
    ready: async () => true,
    readiness: async () => ({ ready: true, generation: 3, lastError: null }),
  } as unknown as StatusService;
  const app = createAdminApp({
    status,
    events: createEventLog(clock),
    reload: async () => {
      reloads++;
      return { outcome: 'unchanged', generation: 3, problems: [], message: null } satisfies ReconcileResult;
    },
    logger: createLogger({ level: 'silent' }),
    appliedConfig: () => null,
    metrics: createPrometheusMetrics({ registry: new Registry(), vhosts: async () => [], defaultMetrics: false }),
    page: { render: () => '<html>page</html>', snippets: () => [], now: () => clock.now() },
    hosts: () => opts.hosts ?? [],
    guard:
      'token' in opts && opts.token === null
        ? undefined
        : { token: () => opts.token ?? TOKEN, metricsPublic: () => false, clock, maxFailures: 3, windowMs: 60_000, lockoutMs: 60_000 },
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const request = (method: string, path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      });
      req.on('error', reject);
      req.end();
    });
  return { server, clock, port, request, reloads: () => reloads };
}

describe('admin app: Host and cross-site checks', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('refuses a foreign Host on every route but health and readiness, token or not', async () => {
    const s = await serve({ token: null });
    server = s.server;
    const auth = { authorization: `Bearer ${TOKEN}` };
    for (const path of ['/api/v1/status', '/api/v1/vhosts', '/', '/metrics', '/api/v1/clients/k3s']) {
      const res = await s.request('GET', path, { host: `evil.example:${s.port}`, ...auth });
      expect(res.status, path).toBe(403);
      expect(JSON.parse(res.body).error).toMatch(/admin\.hosts/);
      expect(res.body).not.toContain('generation');
    }
    expect((await s.request('POST', '/api/v1/reload', { host: 'evil.example', origin: 'http://evil.example' })).status).toBe(403);
    expect(s.reloads()).toBe(0);
    expect((await s.request('GET', '/healthz', { host: 'evil.example' })).status).toBe(200);
    expect((await s.request('GET', '/readyz', { host: 'evil.example' })).status).toBe(200);
    for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, 'LOCALHOST', `[::1]:${s.port}`, '10.1.2.3']) {
      expect((await s.request('GET', '/api/v1/status', { host })).status, host).toBe(200);
    }
  });

  it('accepts the names in admin.hosts', async () => {
    const s = await serve({ token: null, hosts: ['regcache.internal'] });
    server = s.server;
    expect((await s.request('GET', '/api/v1/status', { host: 'regcache.internal:8080' })).status).toBe(200);
    expect((await s.request('GET', '/api/v1/status', { host: 'regcache.internal.evil.example' })).status).toBe(403);
  });

  it('refuses cross-site state changes, allows same-origin and non-browser ones', async () => {
    const s = await serve({ token: null });
    server = s.server;
    const self = `http://127.0.0.1:${s.port}`;
    expect((await s.request('POST', '/api/v1/reload', { origin: 'http://evil.example' })).status).toBe(403);
    expect((await s.request('POST', '/api/v1/reload', { origin: 'null' })).status).toBe(403);
    expect((await s.request('POST', '/api/v1/reload', { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await s.request('POST', '/api/v1/reload', { 'sec-fetch-site': 'same-site', origin: self })).status).toBe(403);
    expect(s.reloads()).toBe(0);
    expect((await s.request('POST', '/api/v1/reload', { origin: self, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await s.request('POST', '/api/v1/reload')).status).toBe(200);
    expect(s.reloads()).toBe(2);
    // Reads from another site are the browser's to block (no CORS headers are sent); they change nothing.
    expect((await s.request('GET', '/api/v1/vhosts', { 'sec-fetch-site': 'cross-site' })).headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('admin app: wrong-token limit', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('token-less requests are not counted; wrong tokens get 429 over the limit; the right token always passes', async () => {
    const s = await serve();
    server = s.server;
    for (let i = 0; i < 20; i++) expect((await s.request('GET', '/api/v1/vhosts')).status).toBe(401);
    expect((await s.request('GET', '/api/v1/vhosts', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await s.request('GET', '/api/v1/vhosts', { authorization: `Bearer guess-${i}` })).status).toBe(401);
    const limited = await s.request('GET', '/api/v1/vhosts', { authorization: 'Bearer guess-x' });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('60');
    expect((await s.request('GET', '/api/v1/vhosts', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect((await s.request('POST', '/api/v1/reload', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    await s.clock.advance(60_001);
    expect((await s.request('GET', '/api/v1/vhosts', { authorization: 'Bearer guess-y' })).status).toBe(401);
  });
});

describe('request origin helpers', () => {
  it('hostAllowed: addresses, localhost and listed names only', () => {
    expect(hostAllowed('127.0.0.1:8080', [])).toBe(true);
    expect(hostAllowed('[::1]:8080', [])).toBe(true);
    expect(hostAllowed('localhost.', [])).toBe(true);
    expect(hostAllowed(undefined, [])).toBe(false);
    expect(hostAllowed('', [])).toBe(false);
    expect(hostAllowed('127.0.0.1.evil.example', [])).toBe(false);
    expect(hostAllowed('evil.example:8080', ['admin.example'])).toBe(false);
    expect(hostAllowed('Admin.Example:443', ['admin.example'])).toBe(true);
    expect(hostAllowed('a b', [])).toBe(false);
  });

  it('crossSite: safe methods pass; POST needs same origin or no browser', () => {
    const req = (method: string, headers: Record<string, string>) => ({ method, get: (n: string) => headers[n.toLowerCase()] }) as never;
    expect(crossSite(req('GET', { origin: 'http://evil.example', host: 'x' }))).toBeNull();
    expect(crossSite(req('POST', { host: '127.0.0.1:1' }))).toBeNull();
    expect(crossSite(req('POST', { host: '127.0.0.1:1', origin: 'http://127.0.0.1:1' }))).toBeNull();
    expect(crossSite(req('POST', { host: '127.0.0.1:1', origin: 'http://127.0.0.1:2' }))).toMatch(/Origin/);
    expect(crossSite(req('DELETE', { host: '127.0.0.1:1', 'sec-fetch-site': 'cross-site' }))).toMatch(/Sec-Fetch-Site/);
    expect(crossSite(req('POST', { host: '127.0.0.1:1', 'sec-fetch-site': 'none' }))).toBeNull();
  });
});
