// Who may pull: htpasswd, allow lists and an external authenticator, on real nginx + registries.
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary, waitFor } from '../../helpers/binaries.js';
import { bcryptEntry } from '../../helpers/htpasswd.js';
import { generateImage } from '../../helpers/image.js';
import { basicAuthHeader, getBlob, getManifest, rawRequest } from '../../helpers/push.js';
import { adminJson, waitSettled, startRegcache, type RegcacheConfigInput, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

describe('access control at the router', () => {
  let upstream: UpstreamRegistry;
  let rc: RunningRegcache;
  let authenticator: Server;
  let authPort = 0;
  const authSeen: Array<Record<string, string | undefined>> = [];
  const image = generateImage({ seed: 'access-image', layers: [3000] });
  const alice = { username: 'alice', password: 'wonderland-42' };
  let config: RegcacheConfigInput;

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: 'library/app', tag: 'v1', image }]);
    // An external authenticator in the style of oauth2-proxy's /oauth2/auth: 2xx lets the request through.
    authenticator = createServer((req: IncomingMessage, res) => {
      authSeen.push({
        uri: req.url,
        original: req.headers['x-original-uri'] as string,
        host: req.headers.host,
        method: req.headers['x-original-method'] as string,
      });
      res.statusCode = req.headers.authorization === 'Bearer let-me-in' ? 200 : 401;
      res.end();
    });
    await new Promise<void>((r) => authenticator.listen(0, '127.0.0.1', () => r()));
    authPort = (authenticator.address() as { port: number }).port;
    config = {
      access: { htpasswd: 'htpasswd', realm: 'team cache' },
      registries: {
        // Alias 127.0.0.1 so skopeo, which cannot override Host, reaches this vhost by address.
        'docker.io': { upstream: upstream.url, aliases: ['127.0.0.1'] },
        'ghcr.io': { upstream: upstream.url, access: { htpasswd: null, allow: ['10.0.0.0/8', '2001:db8::/32'] } },
        'quay.io': { upstream: upstream.url, access: { htpasswd: null, authRequest: `http://127.0.0.1:${authPort}/oauth2/auth` } },
        'open.io': { upstream: upstream.url, access: { htpasswd: '' } },
      },
    };
    rc = await startRegcache(config, {
      prepare: async (dir) => writeFile(path.join(dir, 'htpasswd'), await bcryptEntry(alice.username, alice.password)),
    });
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
    authenticator?.close();
  });

  const host = (name: string) => `${name}.${rc.domain}`;
  const get = (name: string, extra: Record<string, string> = {}, query = '') =>
    getManifest(rc.routerUrl, 'library/app', 'v1' + query, undefined, { headers: { host: host(name), ...extra } });

  it('htpasswd: 401 with a Basic challenge and the registry header, 200 with the right password', async () => {
    const anon = await get('docker.io');
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toBe('Basic realm="team cache"');
    expect(anon.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    const ping = await rawRequest(`${rc.routerUrl}/v2/`, 'GET', { host: host('docker.io') });
    expect(ping.status).toBe(401);

    expect((await get('docker.io', { authorization: basicAuthHeader({ ...alice, password: 'wrong' }) })).status).toBe(401);
    const ok = await get('docker.io', { authorization: basicAuthHeader(alice) });
    expect(ok.status).toBe(200);
    expect(ok.digest).toBe(image.manifestDigest);
    const blob = await getBlob(rc.routerUrl, 'library/app', image.layers[0]!.digest, {
      headers: { host: host('docker.io'), authorization: basicAuthHeader(alice) },
    });
    expect(blob.body.equals(image.layers[0]!.data)).toBe(true);
    // Once the registry cache stored it, nginx serves it from disk: a hit still needs the password
    // (access runs before the file lookup).
    await waitFor(
      async () =>
        (
          await getBlob(rc.routerUrl, 'library/app', image.layers[0]!.digest, {
            headers: { host: host('docker.io'), authorization: basicAuthHeader(alice) },
          })
        ).headers.get('x-cache-status') === 'HIT',
      { what: 'a blob hit served by nginx', timeoutMs: 20_000 },
    );
    for (const method of ['GET', 'HEAD'] as const) {
      const anonHit = await getBlob(rc.routerUrl, 'library/app', image.layers[0]!.digest, { method, headers: { host: host('docker.io') } });
      expect(anonHit.status, method).toBe(401);
      const anonManifest = await getManifest(rc.routerUrl, 'library/app', image.manifestDigest, undefined, {
        method,
        headers: { host: host('docker.io') },
      });
      expect(anonManifest.status, method).toBe(401);
    }
  });

  it('htpasswd: skopeo sends credentials after the challenge', async () => {
    const skopeo = requireBinary(['skopeo']);
    const ref = `docker://127.0.0.1:${rc.routerPort}/library/app:v1`;
    await expect(promisify(execFile)(skopeo, ['--insecure-policy', 'inspect', '--tls-verify=false', ref])).rejects.toThrow(
      /unauthorized|401|authentication required/i,
    );
    const { stdout } = await promisify(execFile)(skopeo, [
      '--insecure-policy',
      'inspect',
      '--tls-verify=false',
      '--creds',
      `${alice.username}:${alice.password}`,
      ref,
    ]);
    expect(JSON.parse(stdout).Digest).toBe(image.manifestDigest);
  });

  it('the ns parameter cannot reach a protected cache without its credentials', async () => {
    const viaNs = await getManifest(rc.routerUrl, 'library/app', 'v1?ns=docker.io', undefined, { headers: { host: 'unknown.example' } });
    expect(viaNs.status).toBe(401);
    // A known host wins over ns: the open registry's host does not open docker.io.
    const mixed = await get('open.io', {}, '?ns=docker.io');
    expect(mixed.status).toBe(200);
    const protectedHostOpenNs = await get('docker.io', {}, '?ns=open.io');
    expect(protectedHostOpenNs.status).toBe(401);
  });

  it('allow: other addresses get 403 with a registry error body', async () => {
    const denied = await get('ghcr.io');
    expect(denied.status).toBe(403);
    expect(denied.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(JSON.parse(denied.body.toString()).errors[0].code).toBe('DENIED');
    // A forged X-Forwarded-For changes nothing: the socket address counts.
    expect((await get('ghcr.io', { 'x-forwarded-for': '10.1.2.3', 'x-real-ip': '10.1.2.3' })).status).toBe(403);
  });

  it('authRequest: the external authenticator decides', async () => {
    authSeen.length = 0;
    expect((await get('quay.io')).status).toBe(401);
    const ok = await get('quay.io', { authorization: 'Bearer let-me-in' });
    expect(ok.status).toBe(200);
    expect(ok.digest).toBe(image.manifestDigest);
    expect(authSeen.at(-1)).toEqual({ uri: '/oauth2/auth', original: '/v2/library/app/manifests/v1', host: `127.0.0.1:${authPort}`, method: 'GET' });
    // Registries without authRequest never call it.
    const before = authSeen.length;
    expect((await get('open.io')).status).toBe(200);
    expect(authSeen.length).toBe(before);
  });

  it('rules change live: allowing loopback opens ghcr.io, and the API shows rules without secrets', async () => {
    const next = structuredClone(config);
    (next.registries['ghcr.io']!.access as Record<string, unknown>).allow = ['127.0.0.0/8'];
    await rc.writeConfig(next);
    await waitFor(async () => (await get('ghcr.io')).status === 200, { what: 'ghcr.io allowed from loopback', timeoutMs: 20_000 });
    await waitSettled(rc);
    const status = await adminJson(rc, '/api/v1/status');
    const ghcr = status.body.config.applied.registries.find((r: { name: string }) => r.name === 'ghcr.io');
    expect(ghcr.access).toEqual({ htpasswd: null, allow: ['127.0.0.0/8'] });
    expect(status.body.config.applied.access.htpasswd.users).toBe(1);
  });
});
