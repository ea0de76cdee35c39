// The admin API of a real daemon with a token from REGCACHE_ADMIN_TOKEN, rotated live through the file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { launchChromium } from '../../helpers/browser.js';
import { startRegcache, type RegcacheConfigInput, type RunningRegcache } from '../../helpers/regcache.js';
import { startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const ENV_TOKEN = 'env-token-0123456789abcdef';
const FILE_TOKEN = 'file-token-fedcba9876543210';

describe('admin API token', () => {
  let upstream: UpstreamRegistry;
  let rc: RunningRegcache;
  let config: RegcacheConfigInput;
  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    config = { registries: { 'docker.io': { upstream: upstream.url } } };
    rc = await startRegcache(config, { env: { REGCACHE_ADMIN_TOKEN: ENV_TOKEN } });
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
  });
  const get = (route: string, token?: string, method = 'GET') =>
    fetch(rc.adminUrl + route, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('every /api/ route needs the bearer token; health and readiness stay open', async () => {
    for (const route of ['/api/v1/status', '/api/v1/vhosts', '/api/v1/vhosts/docker.io', '/api/v1/events', '/api/v1/nope']) {
      expect((await get(route)).status, route).toBe(401);
    }
    expect((await get('/api/v1/status', 'not-the-token-at-all')).status).toBe(401);
    expect((await get('/api/v1/reload', undefined, 'POST')).status).toBe(401);
    expect((await get('/api/v1/status', ENV_TOKEN)).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    const status = await (await get('/api/v1/status', ENV_TOKEN)).json();
    expect(JSON.stringify(status)).not.toContain(ENV_TOKEN);
    expect(status.config.applied.admin.token).toBe('[set]');
  });

  it('the status page stays open, carries the security headers, and its inline script runs under the CSP (Chromium)', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const violations: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
      });
      await page.goto(`${rc.adminUrl}/`);
      // The page's own script refetches the page to refresh in place: that request proves it ran.
      const refresh = await page.waitForRequest((r) => r.url() === `${rc.adminUrl}/` && r.resourceType() === 'fetch', { timeout: 30_000 });
      expect(refresh).toBeTruthy();
      expect(violations).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('a token in the file replaces the env token live', async () => {
    const before = rc.logs.length;
    await rc.writeConfig({ ...config, admin: { listen: new URL(rc.adminUrl).host, token: FILE_TOKEN } });
    // Wait on the daemon's log, not by polling with the token: failed attempts count towards the lockout.
    await waitFor(async () => rc.logs.slice(before).some((l) => l.includes('reconcile pass done') && l.includes('file ')), {
      what: 'the changed file applied',
    });
    expect((await get('/api/v1/status', FILE_TOKEN)).status).toBe(200);
    expect((await get('/api/v1/status', ENV_TOKEN)).status).toBe(401);
  });

  it('repeated wrong tokens get 429 and Retry-After; the right token still passes', async () => {
    let res: Response | null = null;
    for (let i = 0; i < 12; i++) {
      res = await get('/api/v1/vhosts', `guess-${i}`);
      if (res.status === 429) break;
    }
    expect(res!.status).toBe(429);
    expect(Number(res!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await get('/api/v1/vhosts', FILE_TOKEN)).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    expect(rc.logs.join('\n')).not.toContain(FILE_TOKEN);
  });

  it('a cross-site reload and a rebound Host are refused over HTTP', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(rc.adminUrl + '/api/v1/reload', { method: 'POST', headers: { authorization: `Bearer ${FILE_TOKEN}`, ...headers } });
    const crossSite = await post({ origin: 'http://evil.example' });
    expect(crossSite.status).toBe(403);
    expect((await crossSite.json()).error).toMatch(/cross-site/);
    expect((await post({ 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post({})).status).toBe(200);
    // fetch() will not set Host; a raw request does, as a rebound browser would.
    const { rawExchange } = await import('../../helpers/raw-http.js');
    const port = Number(new URL(rc.adminUrl).port);
    const rebound = await rawExchange(
      port,
      `GET /api/v1/status HTTP/1.1\r\nHost: evil.example:${port}\r\nAuthorization: Bearer ${FILE_TOKEN}\r\nConnection: close\r\n\r\n`,
    );
    expect(rebound.statuses).toEqual([403]);
    expect(rebound.body).not.toContain('generation');
  });
});
