// Hostile requests at the router (real nginx + registries): odd paths, encodings, headers, hosts,
// ns tricks, bodies and slow clients. None may select a backend other than by configured host/ns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImage } from '../../helpers/image.js';
import { rawExchange, type RawExchange } from '../../helpers/raw-http.js';
import { startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json';

describe('hostile requests at the router', () => {
  let hub: UpstreamRegistry;
  let ghcr: UpstreamRegistry;
  let rc: RunningRegcache;
  // The same repository and tag on both upstreams with different content: the digest says who answered.
  const hubImage = generateImage({ seed: 'hostile-hub', layers: [1000] });
  const ghcrImage = generateImage({ seed: 'hostile-ghcr', layers: [1000] });
  let slowClient: Promise<RawExchange>;

  beforeAll(async () => {
    [hub, ghcr] = await Promise.all([startUpstreamRegistry(), startUpstreamRegistry()]);
    await seedUpstream(hub, [{ repository: 'library/app', tag: 'v1', image: hubImage }]);
    await seedUpstream(ghcr, [{ repository: 'library/app', tag: 'v1', image: ghcrImage }]);
    rc = await startRegcache({ registries: { 'docker.io': { upstream: hub.url }, 'ghcr.io': { upstream: ghcr.url } } });
    // A client that sends half a request line and stops: started first, checked last (header timeout is 30 s).
    slowClient = rawExchange(rc.routerPort, 'GET /v2/library/app/manifests/v1 HTTP/1.1\r\nHost: docker.io.regi', { timeoutMs: 60_000 });
  });
  afterAll(async () => {
    await rc?.stop();
    await Promise.all([hub?.stop(), ghcr?.stop()]);
  });

  const hubHost = () => `docker.io.${rc.domain}`;
  const ghcrHost = () => `ghcr.io.${rc.domain}`;
  const send = (requestLine: string, headers: string[] = [], body = '') =>
    rawExchange(rc.routerPort, `${requestLine}\r\n${[...headers, `Accept: ${ACCEPT}`, 'Connection: close'].join('\r\n')}\r\n\r\n${body}`);
  const get = (target: string, host: string, extra: string[] = []) => send(`GET ${target} HTTP/1.1`, [`Host: ${host}`, ...extra]);

  /** The invariant: a manifest served is the one of the backend the host (or ns) names. */
  function servedBy(res: RawExchange): 'hub' | 'ghcr' | null {
    const digest = res.headers['docker-content-digest'];
    if (res.statuses[0] !== 200 || !digest) return null;
    if (digest === hubImage.manifestDigest) return 'hub';
    if (digest === ghcrImage.manifestDigest) return 'ghcr';
    throw new Error(`unexpected digest ${digest}`);
  }

  it('baseline: each vhost serves its own upstream', async () => {
    expect(servedBy(await get('/v2/library/app/manifests/v1', hubHost()))).toBe('hub');
    expect(servedBy(await get('/v2/library/app/manifests/v1', ghcrHost()))).toBe('ghcr');
  });

  it('path traversal and odd encodings never serve another backend or escape /v2/', async () => {
    const targets = [
      '/v2/../v2/library/app/manifests/v1',
      '/v2/library/../library/app/manifests/v1',
      '/v2/%2e%2e/v2/library/app/manifests/v1',
      '/v2/library/app/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/v2/library%2fapp/manifests/v1',
      '/v2/library%252fapp/manifests/v1',
      '/v2/library/app%00/manifests/v1',
      '/v2/library/app/manifests/v1%00.json',
      '/v2//library//app/manifests/v1',
      '/v2/library/app/manifests/v1/..%2f..%2f..%2f',
      '/v2/LIBRARY/APP/manifests/v1',
      '/v2/library/app/manifests/v1?ns=ghcr.io',
      '/../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      `/v2/${'a'.repeat(300)}/manifests/v1`,
      `/v2/${'a/'.repeat(200)}app/manifests/v1`,
    ];
    for (const target of targets) {
      const res = await get(target, hubHost());
      expect(res.statuses.length, target).toBe(1);
      expect([200, 301, 400, 404, 414], target).toContain(res.statuses[0]);
      expect(servedBy(res), target).not.toBe('ghcr');
      expect(res.body, target).not.toMatch(/root:.*:0:0:/);
    }
    // Names outside distribution's grammar stop at the router with the registry's own error code.
    expect((await get('/v2/library/app%00/manifests/v1', hubHost())).statuses).toEqual([400]); // nginx: decoded NUL
    for (const target of [
      `/v2/${'a'.repeat(300)}/manifests/v1`,
      '/v2/lib%0arary/app/manifests/v1',
      '/v2/-app/manifests/v1',
      '/v2/library/APP/manifests/v1',
    ]) {
      const res = await get(target, hubHost());
      expect(res.statuses, target).toEqual([400]);
      expect(JSON.parse(res.body).errors[0].code, target).toBe('NAME_INVALID');
    }
  });

  it('a raw NUL or control character in the request line is refused by nginx', async () => {
    expect((await get('/v2/library/app\0/manifests/v1', hubHost())).statuses).toEqual([400]);
    expect((await rawExchange(rc.routerPort, `GET /v2/\x01 HTTP/1.1\r\nHost: ${hubHost()}\r\nConnection: close\r\n\r\n`)).statuses[0]).toBe(400);
  });

  it('oversized request lines and headers get 400/414/431/494', async () => {
    const longLine = await get(`/v2/library/app/manifests/${'x'.repeat(20_000)}`, hubHost());
    expect([400, 414]).toContain(longLine.statuses[0]);
    const bigHeader = await get('/v2/library/app/manifests/v1', hubHost(), [`X-Big: ${'a'.repeat(20_000)}`]);
    expect([400, 431, 494]).toContain(bigHeader.statuses[0]);
    const manyHeaders = await get(
      '/v2/library/app/manifests/v1',
      hubHost(),
      Array.from({ length: 64 }, (_, i) => `X-H${i}: ${'b'.repeat(1000)}`),
    );
    expect([200, 400, 431, 494]).toContain(manyHeaders.statuses[0]);
    const cookie = await get('/v2/library/app/manifests/v1', hubHost(), [`Cookie: ${'c'.repeat(16_000)}`]);
    expect([400, 431, 494]).toContain(cookie.statuses[0]);
  });

  it('request bodies on GET are not forwarded and cannot smuggle a second request', async () => {
    const smuggled = `GET /v2/library/app/manifests/v1 HTTP/1.1\r\nHost: ${ghcrHost()}\r\n\r\n`;
    const withLength = await send(
      'GET /v2/library/app/manifests/v1 HTTP/1.1',
      [`Host: ${hubHost()}`, `Content-Length: ${smuggled.length}`],
      smuggled,
    );
    expect(withLength.statuses).toEqual([200]);
    expect(servedBy(withLength)).toBe('hub');
    const chunk = smuggled.length.toString(16);
    const chunked = await send(
      'GET /v2/library/app/manifests/v1 HTTP/1.1',
      [`Host: ${hubHost()}`, 'Transfer-Encoding: chunked'],
      `${chunk}\r\n${smuggled}\r\n0\r\n\r\n`,
    );
    expect(chunked.statuses).toEqual([200]);
    expect(servedBy(chunked)).toBe('hub');
    const both = await send(
      'GET /v2/library/app/manifests/v1 HTTP/1.1',
      [`Host: ${hubHost()}`, `Content-Length: 4`, 'Transfer-Encoding: chunked'],
      `0\r\n\r\n${smuggled}`,
    );
    expect(both.statuses.every((s) => s === 400 || s === 200)).toBe(true);
    expect(both.statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(1);
    expect(both.raw).not.toContain(ghcrImage.manifestDigest);
    // A body larger than client_max_body_size is refused outright.
    const huge = await send('GET /v2/library/app/manifests/v1 HTTP/1.1', [`Host: ${hubHost()}`, `Content-Length: ${5 << 20}`]);
    expect(huge.statuses).toEqual([413]);
  });

  it('write methods get 405; nothing but GET and HEAD reaches a cache', async () => {
    for (const method of ['PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND']) {
      const res = await send(`${method} /v2/library/app/manifests/v1 HTTP/1.1`, [`Host: ${hubHost()}`, 'Content-Length: 0']);
      expect(res.statuses, method).toEqual([405]);
    }
    expect([400, 405]).toContain((await send(`TRACE /v2/ HTTP/1.1`, [`Host: ${hubHost()}`])).statuses[0]);
    expect([400, 405]).toContain((await send(`CONNECT ${hubHost()}:443 HTTP/1.1`, [`Host: ${hubHost()}`])).statuses[0]);
  });

  it('Host tricks: only an exact configured host selects a cache', async () => {
    const m = '/v2/library/app/manifests/v1';
    expect(servedBy(await get(m, hubHost().toUpperCase()))).toBe('hub');
    expect(servedBy(await get(m, `${hubHost()}.`))).toBe('hub');
    expect(servedBy(await get(m, `${hubHost()}:${rc.routerPort}`))).toBe('hub');
    for (const host of [
      `${hubHost()}.evil`,
      `evil.${hubHost()}`,
      `${hubHost()}evil`,
      `x${hubHost()}`,
      'docker.io',
      `${hubHost()}@${ghcrHost()}`,
      `${hubHost()}%00`,
    ]) {
      const res = await get(m, host);
      expect([400, 404], host).toContain(res.statuses[0]);
      if (res.statuses[0] === 404) expect(res.body, host).toContain('NAME_UNKNOWN');
    }
    // Two Host headers, or none, are refused.
    expect((await send(`GET ${m} HTTP/1.1`, [`Host: ${hubHost()}`, `Host: ${ghcrHost()}`])).statuses).toEqual([400]);
    expect((await send(`GET ${m} HTTP/1.1`, [])).statuses).toEqual([400]);
    // X-Forwarded-Host and friends select nothing.
    const forwarded = await get(m, 'unknown.example', [`X-Forwarded-Host: ${ghcrHost()}`, `X-Host: ${ghcrHost()}`, `Forwarded: host=${ghcrHost()}`]);
    expect(forwarded.statuses).toEqual([404]);
  });

  it('absolute-form request targets route by their host, as RFC 9112 says; access rules follow that host', async () => {
    const res = await send(`GET http://${ghcrHost()}/v2/library/app/manifests/v1 HTTP/1.1`, [`Host: ${hubHost()}`]);
    expect(servedBy(res)).toBe('ghcr');
    const unknown = await send(`GET http://evil.example/v2/library/app/manifests/v1 HTTP/1.1`, [`Host: ${hubHost()}`]);
    expect(unknown.statuses).toEqual([404]);
  });

  it('ns tricks: a known host wins, the first ns counts, encoded ns matches nothing', async () => {
    const m = '/v2/library/app/manifests/v1';
    expect(servedBy(await get(`${m}?ns=ghcr.io`, hubHost()))).toBe('hub');
    expect(servedBy(await get(`${m}?ns=docker.io&ns=ghcr.io`, '127.0.0.1'))).toBe('hub');
    expect(servedBy(await get(`${m}?ns=ghcr.io&ns=docker.io`, '127.0.0.1'))).toBe('ghcr');
    for (const q of [
      '?ns=ghcr%2eio',
      '?ns=ghcr.io%00',
      '?ns=ghcr.io.',
      '?ns=%67hcr.io',
      '?ns[]=ghcr.io',
      '?ns=ghcr.io%20',
      '?ns=',
      '?ns=*',
      `?ns=${ghcrHost()}`,
    ]) {
      const res = await get(`${m}${q}`, '127.0.0.1');
      expect(res.statuses, q).toEqual([404]);
      expect(res.body, q).toContain('NAME_UNKNOWN');
    }
  });

  it('a slow client is cut off by client_header_timeout', async () => {
    const res = await slowClient;
    expect(res.closedByServer).toBe(true);
    expect(res.statuses.filter((s) => s === 200)).toEqual([]);
    expect(res.closedAfterMs).toBeGreaterThanOrEqual(25_000);
    expect(res.closedAfterMs).toBeLessThan(45_000);
  }, 70_000);
});
