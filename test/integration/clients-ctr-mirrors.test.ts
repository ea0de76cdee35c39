// containerd/ctr (the resolver behind k3s, k3d and the CRI plugin) with the generated hosts.toml for two
// caches of one registry host, both named apart from it (mirrorOf: alpha.test, mirrorOrder 1 and 2). The
// first cache's upstream lacks the image; ctr must go on to the second mirror, not to `server` (the
// first cache's upstream, which lacks it too), and every blob must come through the second cache.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAccessLog } from '../helpers/access-log.js';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { generateImage } from '../helpers/image.js';
import { createPrivateHosts, type PrivateHosts } from '../helpers/private-hosts.js';
import { startRegcache, type RunningRegcache } from '../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const DOMAIN = 'regcache.test';
const FIRST = { cache: 'alpha-one', vhost: `alpha-one.${DOMAIN}` };
const SECOND = { cache: 'alpha-two', vhost: `alpha-two.${DOMAIN}` };

describe('ctr with two renamed caches of one registry host', () => {
  let first: UpstreamRegistry;
  let second: UpstreamRegistry;
  let regcache: RunningRegcache;
  let containerd: Containerd;
  let hosts: PrivateHosts;
  let scratch: string;
  let hostsDir: string;
  const img = generateImage({ seed: 'ctr-mirrors', layers: [3000, 50_000] });

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'regcache-ctr-mirrors-'));
    [first, second] = await Promise.all([startUpstreamRegistry(), startUpstreamRegistry()]);
    await seedUpstream(second, [{ repository: 'org/app', tag: 'v1', image: img }]);
    regcache = await startRegcache({
      domain: DOMAIN,
      registries: {
        [FIRST.cache]: { upstream: first.url, mirrorOf: 'alpha.test', mirrorOrder: 1 },
        [SECOND.cache]: { upstream: second.url, mirrorOf: 'alpha.test', mirrorOrder: 2 },
      },
    });
    containerd = await startContainerd();
    hosts = await createPrivateHosts(scratch, [FIRST.vhost, SECOND.vhost]);
    hostsDir = join(scratch, 'certs.d');
    const res = await fetch(`${regcache.adminUrl}/api/v1/clients/containerd`);
    expect(res.status).toBe(200);
    for (const file of (await res.json()).files as Array<{ path: string; content: string }>) {
      await mkdir(dirname(join(hostsDir, file.path)), { recursive: true });
      await writeFile(join(hostsDir, file.path), file.content);
    }
  });

  afterAll(async () => {
    await containerd?.stop();
    await regcache?.stop();
    await Promise.all([first?.stop(), second?.stop()]);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('one alpha.test/hosts.toml: both caches in mirror order, the first cache upstream as server', async () => {
    const port = regcache.routerPort;
    expect(parseToml(await readFile(join(hostsDir, 'alpha.test', 'hosts.toml'), 'utf8'))).toEqual({
      server: first.url,
      host: {
        [`http://${FIRST.vhost}:${port}`]: { capabilities: ['pull', 'resolve'] },
        [`http://${SECOND.vhost}:${port}`]: { capabilities: ['pull', 'resolve'] },
      },
    });
  });

  it('ctr pulls alpha.test/org/app through the second cache when the first cannot serve it', async () => {
    const ref = 'alpha.test/org/app:v1';
    await containerd.ctr(['--namespace', 'mirrors', 'images', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, ref], hosts);
    expect(await containerd.imageDigest('mirrors', ref)).toBe(img.manifestDigest);

    const log = await readAccessLog(regcache.dir);
    const firstAnswers = log.filter((e) => e.host === FIRST.vhost && e.uri.startsWith('/v2/org/app/')).map((e) => e.status);
    expect(firstAnswers.length).toBeGreaterThan(0);
    // Never served by the first cache: 404 for the tag and blobs; for the manifest by digest distribution
    // 2.8's proxy answers 500 (its upstream lacks it), which the router gives as 502. containerd moves on either way.
    expect(
      firstAnswers.every((s) => s === 404 || s === 502),
      JSON.stringify(firstAnswers),
    ).toBe(true);
    for (const blob of [img.config, ...img.layers]) {
      const served = log.filter((e) => e.uri.startsWith(`/v2/org/app/blobs/${blob.digest}`) && e.method === 'GET' && e.status === 200);
      expect(
        served.map((e) => e.vhost),
        blob.digest,
      ).toEqual([SECOND.cache]);
    }
    // `server` was not needed: the first upstream saw only what its cache asked (no ns= from containerd).
    expect((await first.settledRequests()).filter((r) => r.uri.includes('ns='))).toEqual([]);
  });
});
