// TLS on real nginx: wildcard certificate, a per-registry certificate, renewal without dropped
// connections, mandatory client certificates, and http switched off.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile, rename } from 'node:fs/promises';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, requireBinary, waitFor } from '../../helpers/binaries.js';
import { makeCa, makeLeaf, type CertFiles } from '../../helpers/certs.js';
import { generateImage, sha256Digest } from '../../helpers/image.js';
import { rawRequest } from '../../helpers/push.js';
import { adminJson, startRegcache, waitSettled, type RegcacheConfigInput, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

interface TlsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  peer: X509Certificate | null;
}

describe('TLS', () => {
  let upstream: UpstreamRegistry;
  let rc: RunningRegcache;
  let tlsPort: number;
  let ca: CertFiles;
  let tlsDir: string;
  let client: CertFiles;
  let config: RegcacheConfigInput;
  const image = generateImage({ seed: 'tls-image', layers: [2000, 6 << 20] });

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: 'library/app', tag: 'v1', image }]);
    tlsPort = await findFreePort();
    config = {
      tls: { listen: `127.0.0.1:${tlsPort}`, cert: 'tls/live/cert.pem', key: 'tls/live/key.pem' },
      registries: {
        'docker.io': { upstream: upstream.url, aliases: ['127.0.0.1'] },
        'ghcr.io': { upstream: upstream.url, tls: { cert: 'tls/ghcr.pem', key: 'tls/ghcr.key' } },
      },
    };
    rc = await startRegcache(config, {
      prepare: async (dir) => {
        tlsDir = path.join(dir, 'tls');
        await mkdir(path.join(tlsDir, 'live'), { recursive: true });
        ca = await makeCa(tlsDir);
        // Wildcards cover one label: docker.io.<domain> needs *.io.<domain> besides *.<domain>.
        const wildcard = await makeLeaf(tlsDir, ca, 'wildcard', ['*.registry.test', '*.io.registry.test', '127.0.0.1']);
        await copyFile(wildcard.cert, path.join(tlsDir, 'live', 'cert.pem'));
        await copyFile(wildcard.key, path.join(tlsDir, 'live', 'key.pem'));
        await makeLeaf(tlsDir, ca, 'ghcr', ['ghcr.io.registry.test']);
        client = await makeLeaf(tlsDir, ca, 'puller', ['ci-runner'], 'client');
      },
    });
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
  });

  async function tlsGet(
    host: string,
    route: string,
    opts: { clientCert?: CertFiles; pauseMs?: number; onHeaders?: () => Promise<void> } = {},
  ): Promise<TlsResponse> {
    const caPem = await readFile(ca.cert);
    const extra: RequestOptions = opts.clientCert ? { cert: await readFile(opts.clientCert.cert), key: await readFile(opts.clientCert.key) } : {};
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: tlsPort,
          path: route,
          servername: host === '127.0.0.1' ? undefined : host,
          headers: { host, accept: 'application/vnd.docker.distribution.manifest.v2+json' },
          ca: caPem,
          agent: false,
          ...extra,
        },
        (res) => {
          const peerRaw = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate?.() ?? null;
          const chunks: Buffer[] = [];
          const drain = () => {
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), peer: peerRaw ?? null }));
          };
          res.on('error', reject);
          if (opts.onHeaders) {
            res.pause();
            opts.onHeaders().then(() => {
              drain();
              res.resume();
            }, reject);
          } else drain();
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
  const manifest = (host: string, o = {}) => tlsGet(host, '/v2/library/app/manifests/v1', o);

  it('serves every vhost over https with the wildcard certificate; plain http stays available', async () => {
    const res = await manifest(`docker.io.${rc.domain}`);
    expect(res.status).toBe(200);
    expect(res.headers['docker-content-digest']).toBe(image.manifestDigest);
    expect(res.peer?.subject).toContain('CN=*.registry.test');
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const plain = await rawRequest(`${rc.routerUrl}/v2/library/app/manifests/v1`, 'GET', { host: `docker.io.${rc.domain}` });
    expect(plain.status).toBe(200);
  });

  it('a registry with its own certificate gets it by SNI', async () => {
    const res = await manifest(`ghcr.io.${rc.domain}`);
    expect(res.status).toBe(200);
    expect(res.peer?.subject).toContain('CN=ghcr.io.registry.test');
  });

  it('skopeo verifies the chain and pulls over https', async () => {
    const certDir = path.join(tlsDir, 'skopeo-certs');
    await mkdir(certDir, { recursive: true });
    await copyFile(ca.cert, path.join(certDir, 'ca.crt'));
    const { stdout } = await promisify(execFile)(requireBinary(['skopeo']), [
      '--insecure-policy',
      'inspect',
      '--cert-dir',
      certDir,
      `docker://127.0.0.1:${tlsPort}/library/app:v1`,
    ]);
    expect(JSON.parse(stdout).Digest).toBe(image.manifestDigest);
  });

  it('a renewed certificate is served after the files change, without dropping a download in flight', async () => {
    const before = (await manifest(`docker.io.${rc.domain}`)).peer!.fingerprint256;
    const renewed = await makeLeaf(tlsDir, ca, 'wildcard-renewed', ['*.registry.test', '*.io.registry.test', '127.0.0.1']);
    const big = image.layers[1]!;
    let failures = 0;
    let requests = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        requests++;
        const r = await manifest(`docker.io.${rc.domain}`).catch(() => null);
        if (r?.status !== 200) failures++;
      }
    })();
    // A 6 MiB blob download holds its connection open across the renewal and reload.
    const download = await tlsGet(`docker.io.${rc.domain}`, `/v2/library/app/blobs/${big.digest}`, {
      onHeaders: async () => {
        // certbot-style renewal: new files renamed into place.
        await copyFile(renewed.key, path.join(tlsDir, 'live', 'key.pem.new'));
        await copyFile(renewed.cert, path.join(tlsDir, 'live', 'cert.pem.new'));
        await rename(path.join(tlsDir, 'live', 'key.pem.new'), path.join(tlsDir, 'live', 'key.pem'));
        await rename(path.join(tlsDir, 'live', 'cert.pem.new'), path.join(tlsDir, 'live', 'cert.pem'));
        await waitFor(async () => (await manifest(`docker.io.${rc.domain}`)).peer!.fingerprint256 !== before, {
          what: 'renewed certificate served',
          timeoutMs: 20_000,
        });
      },
    });
    stop = true;
    await load;
    await waitSettled(rc);
    expect(download.status).toBe(200);
    expect(sha256Digest(download.body)).toBe(big.digest);
    expect((await manifest(`docker.io.${rc.domain}`)).peer!.fingerprint256).toBe(new X509Certificate(await readFile(renewed.cert)).fingerprint256);
    expect(requests).toBeGreaterThan(5);
    expect(failures).toBe(0);
    const events = (await adminJson(rc, '/api/v1/events?limit=100')).body.events as Array<{ message: string }>;
    expect(events.some((e) => /referenced file/.test(e.message))).toBe(true);
  });

  it('tls.clientCA makes a client certificate mandatory (mTLS)', async () => {
    const next = structuredClone(config);
    (next.tls as Record<string, unknown>).clientCA = 'tls/test-ca.pem';
    await rc.writeConfig(next);
    await waitFor(async () => (await manifest(`docker.io.${rc.domain}`).catch(() => ({ status: 0 }))).status === 400, {
      what: 'client certificates required',
      timeoutMs: 20_000,
    });
    const withCert = await manifest(`docker.io.${rc.domain}`, { clientCert: client });
    expect(withCert.status).toBe(200);
    expect(withCert.headers['docker-content-digest']).toBe(image.manifestDigest);
    // A certificate from another CA is refused.
    const otherCa = await makeCa(tlsDir, 'other');
    const stranger = await makeLeaf(tlsDir, otherCa, 'stranger', ['stranger'], 'client');
    const refused = await manifest(`docker.io.${rc.domain}`, { clientCert: stranger }).catch(() => ({ status: 0 }));
    expect([0, 400]).toContain(refused.status);
  });

  it('tls.httpDisabled: plain http serves no registry, readiness still works', async () => {
    const next = structuredClone(config);
    (next.tls as Record<string, unknown>).httpDisabled = true;
    await rc.writeConfig(next);
    await waitFor(
      async () => (await rawRequest(`${rc.routerUrl}/v2/library/app/manifests/v1`, 'GET', { host: `docker.io.${rc.domain}` })).status === 403,
      { what: 'http refused', timeoutMs: 20_000 },
    );
    // Workers of the previous config may answer a moment longer after the reload: ask until the new ones do.
    await waitFor(async () => (await rawRequest(`${rc.routerUrl}/v2/`, 'GET', { host: `docker.io.${rc.domain}` })).status === 403, {
      what: '/v2/ refused too',
    });
    const plain = await rawRequest(`${rc.routerUrl}/v2/`, 'GET', { host: `docker.io.${rc.domain}` });
    expect(JSON.parse(plain.body.toString()).errors[0].code).toBe('DENIED');
    // Readiness follows once the daemon has recorded the new generation (the probe reaches http on loopback).
    await waitFor(async () => (await fetch(`${rc.adminUrl}/readyz`)).status === 200, { what: 'ready with http disabled' });
    // https keeps serving; on a loaded machine a worker of the mTLS generation before may still take a
    // new connection for a moment (it answers 400 without a client certificate): ask until the new ones do.
    await waitFor(async () => ((await manifest(`docker.io.${rc.domain}`)).status === 200 ? true : undefined), {
      what: 'https to serve with http disabled',
      timeoutMs: 10_000,
    });
  });
});
