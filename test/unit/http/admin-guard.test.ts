import { once } from 'node:events';
import type { Server } from 'node:http';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { adminGuard, inlineScriptHashes, securityHeaders, tokenMatches } from '../../../src/http/admin-guard.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

const TOKEN = 'a-long-admin-token-0123456789';

async function serve(opts: { token?: string | null; metricsPublic?: boolean; maxFailures?: number }) {
  const clock = createFakeClock(1_000_000);
  const app = express();
  app.use(securityHeaders());
  app.use(
    adminGuard({
      token: () => ('token' in opts ? opts.token! : TOKEN),
      metricsPublic: () => opts.metricsPublic ?? false,
      clock,
      maxFailures: opts.maxFailures ?? 3,
      windowMs: 60_000,
      lockoutMs: 30_000,
    }),
  );
  for (const p of ['/healthz', '/readyz', '/metrics', '/api/v1/vhosts', '/', '/metrics/']) app.get(p, (_req, res) => res.json({ path: p }));
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const get = (p: string, token?: string) => fetch(base + p, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { server, clock, get };
}

describe('admin guard', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('requires the bearer token on /api/ and /metrics; health stays open', async () => {
    const s = await serve({ maxFailures: 100 });
    server = s.server;
    expect((await s.get('/healthz')).status).toBe(200);
    expect((await s.get('/readyz')).status).toBe(200);
    const denied = await s.get('/api/v1/vhosts');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer realm="regcache-admin"');
    expect(await denied.json()).toEqual({ error: 'this route needs Authorization: Bearer <admin token>' });
    expect((await s.get('/api/v1/vhosts', TOKEN)).status).toBe(200);
    expect((await s.get('/metrics')).status).toBe(401);
    expect((await s.get('/metrics', TOKEN)).status).toBe(200);
    // Path tricks reach the same guard.
    expect((await s.get('/API/v1/vhosts')).status).toBe(401);
    expect((await s.get('/api/v1/vhosts/')).status).toBe(401);
    expect((await s.get('/%61pi/v1/vhosts')).status).toBe(401);
    expect((await s.get('//api/v1/vhosts')).status).toBe(401);
    expect((await s.get('/HEALTHZ')).status).toBe(401);
  });

  it('/metrics can be public; no token configured leaves everything open', async () => {
    const s = await serve({ metricsPublic: true });
    server = s.server;
    expect((await s.get('/metrics')).status).toBe(200);
    server.close();
    const open = await serve({ token: null });
    server = open.server;
    expect((await open.get('/api/v1/vhosts')).status).toBe(200);
  });

  it('over the limit, wrong tokens get 429 with Retry-After from the injected clock; the right token still passes', async () => {
    const s = await serve({ maxFailures: 3 });
    server = s.server;
    for (let i = 0; i < 3; i++) expect((await s.get('/api/v1/vhosts', `wrong-${i}`)).status).toBe(401);
    const locked = await s.get('/api/v1/vhosts', 'wrong-again');
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toBe('30');
    expect((await s.get('/api/v1/vhosts', TOKEN)).status).toBe(200);
    await s.clock.advance(20_000);
    expect((await s.get('/api/v1/vhosts', 'wrong-later')).headers.get('retry-after')).toBe('10');
    expect((await s.get('/healthz')).status).toBe(200);
    await s.clock.advance(10_001);
    expect((await s.get('/api/v1/vhosts', 'wrong-after')).status).toBe(401);
  });

  it('sets security headers on every response', async () => {
    const s = await serve({});
    server = s.server;
    for (const p of ['/', '/healthz', '/api/v1/vhosts']) {
      const res = await s.get(p);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'self';.*style-src 'self' 'unsafe-inline'.*frame-ancestors 'none'/);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it("allows exactly the status page template's fixed inline scripts", async () => {
    const { readStatusPageTemplate } = await import('../../../src/status/page/render-status-page.js');
    const hashes = inlineScriptHashes(readStatusPageTemplate());
    expect(hashes.length).toBeGreaterThan(0);
    expect(inlineScriptHashes('<script>a()</script><script><%= x %></script>')).toEqual([
      'sha256-' + (await import('node:crypto')).createHash('sha256').update('a()').digest('base64'),
    ]);
  });

  it('compares tokens of any length without throwing', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches('', TOKEN)).toBe(false);
    expect(tokenMatches(TOKEN + 'x', TOKEN)).toBe(false);
  });
});
