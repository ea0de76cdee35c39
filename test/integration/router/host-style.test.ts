// hostStyle dashed on real nginx with a real wildcard certificate: `*.<domain>` covers docker-io.<domain>
// (one label) but not docker.io.<domain>; regcache names the uncovered hosts while the config serves, and
// stops once the style is switched live.
import { mkdir } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, waitFor } from '../../helpers/binaries.js';
import { makeCa, makeLeaf, type CertFiles } from '../../helpers/certs.js';
import { generateImage } from '../../helpers/image.js';
import { adminJson, startRegcache, type RegcacheConfigInput, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

describe('hostStyle and the TLS certificate check', () => {
  let upstream: UpstreamRegistry;
  let rc: RunningRegcache;
  let tlsPort: number;
  let ca: CertFiles;
  let config: (style: 'dotted' | 'dashed') => RegcacheConfigInput;
  const image = generateImage({ seed: 'host-style', layers: [3000] });

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: 'library/app', tag: 'v1', image }]);
    tlsPort = await findFreePort();
    config = (style) => ({
      hostStyle: style,
      tls: { listen: `127.0.0.1:${tlsPort}`, cert: 'tls/wildcard.pem', key: 'tls/wildcard.key' },
      registries: { 'docker.io': { upstream: upstream.url }, quay: { upstream: upstream.url } },
    });
    rc = await startRegcache(config('dotted'), {
      prepare: async (dir) => {
        const tlsDir = path.join(dir, 'tls');
        await mkdir(tlsDir, { recursive: true });
        ca = await makeCa(tlsDir);
        // The bare domain too: it is the single-mode endpoint, and the check names it when missing.
        await makeLeaf(tlsDir, ca, 'wildcard', ['*.registry.test', 'registry.test']);
      },
    });
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
  });

  /** A manifest GET over verified TLS with SNI, as a client resolving `host` to the router would send it. */
  const verifiedGet = async (host: string) => {
    const caPem = await readFile(ca.cert);
    return new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: tlsPort,
          path: '/v2/library/app/manifests/v1',
          servername: host,
          headers: { host, accept: image.manifestMediaType },
          ca: caPem,
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });
  };
  const warnings = async () => (await adminJson(rc, '/api/v1/status')).body.config.applied.warnings as Array<{ path: string; message: string }>;

  it('dotted: names the hosts the wildcard does not cover, in the status and the events; clients refuse them', async () => {
    expect(await warnings()).toEqual([
      { path: 'tls.cert', message: expect.stringMatching(/does not cover docker\.io\.registry\.test; .*hostStyle: dashed/) },
    ]);
    const events = (await adminJson(rc, '/api/v1/events?limit=50')).body.events as Array<{ kind: string; message: string }>;
    expect(events.some((e) => e.kind === 'config' && e.message.includes('does not cover docker.io.registry.test'))).toBe(true);
    await expect(verifiedGet('docker.io.registry.test')).rejects.toThrow(/altnames|Hostname/i);
    expect(await verifiedGet('quay.registry.test')).toBe(200);
  });

  it('dashed, applied live: docker-io.<domain> is covered and serves over verified TLS; no warning', async () => {
    await rc.writeConfig(config('dashed'));
    await waitFor(async () => (await warnings()).length === 0, { timeoutMs: 20_000, what: 'the dashed config to apply' });
    expect(await verifiedGet('docker-io.registry.test')).toBe(200);
    const vhost = (await adminJson(rc, '/api/v1/vhosts/docker.io')).body;
    expect(vhost.hosts).toEqual(['docker-io.registry.test']);
    expect(vhost.mirrorOf).toBe('docker.io');
  });
});
