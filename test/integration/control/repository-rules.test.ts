// registries.<name>.repositories: the router answers denied and not-allowed repositories itself, before any
// cache or upstream call, by vhost and by ?ns=, for every request kind that names a repository.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImage, sha256Digest } from '../../helpers/image.js';
import { getBlob, getManifest, rawRequest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

describe('repository allow/deny rules at the router', () => {
  let upstream: UpstreamRegistry;
  let rc: RunningRegcache;
  const image = generateImage({ seed: 'rules-image', layers: [2000] });
  const rules = { allow: ['library/*', 'team/**'], deny: ['library/ubuntu'] };

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [
      { repository: 'library/app', tag: 'v1', image },
      { repository: 'library/ubuntu', tag: 'v1', image },
      { repository: 'other/app', tag: 'v1', image },
      { repository: 'team/a/b', tag: 'v1', image },
    ]);
    rc = await startRegcache({
      registries: {
        'docker.io': { upstream: upstream.url, repositories: rules },
        'ghcr.io': { upstream: upstream.url },
      },
    });
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
  });

  const vhost = (name: string) => ({ host: `${name}.${rc.domain}` });
  // The shared endpoint: a host that is no vhost, the cache picked by containerd's ?ns=.
  const shared = { host: 'mirror.example.net' };
  const cacheLog = () => readFile(path.join(rc.dir, 'data', 'logs', 'docker-io.log'), 'utf8').catch(() => '');
  const egressLog = () => readFile(path.join(rc.dir, 'data', 'egress-nginx', 'logs', 'access.log'), 'utf8').catch(() => '');

  /** Every request kind that names a repository, as path + query. */
  const requestsFor = (repo: string, ns: string) => {
    const q = ns ? `?ns=${ns}` : '';
    return [
      `/v2/${repo}/manifests/v1${q}`,
      `/v2/${repo}/manifests/${image.manifestDigest}${q}`,
      `/v2/${repo}/blobs/${image.layers[0]!.digest}${q}`,
      `/v2/${repo}/blobs/${image.config.digest}${q}`,
      `/v2/${repo}/tags/list${q}`,
      `/v2/${repo}/referrers/${image.manifestDigest}${q}`,
    ];
  };

  it('answers denied and not-allowed repositories 403 DENIED itself: nothing reaches the cache, its egress or the upstream', async () => {
    await upstream.settledRequests();
    upstream.clearRequests();
    const cacheBefore = await cacheLog();
    const egressBefore = await egressLog();
    let refused = 0;
    for (const [repo, reason] of [
      ['library/ubuntu', 'denied'],
      ['other/app', 'not_allowed'],
      ['library/app/extra', 'not_allowed'],
    ] as const) {
      for (const [headers, ns] of [
        [vhost('docker.io'), ''],
        [shared, 'docker.io'],
      ] as const) {
        for (const uri of requestsFor(repo, ns)) {
          for (const method of ['GET', 'HEAD']) {
            const res = await rawRequest(`${rc.routerUrl}${uri}`, method, { ...headers, accept: 'application/vnd.oci.image.index.v1+json' });
            expect(res.status, `${method} ${uri}`).toBe(403);
            expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
            if (method === 'GET') {
              expect(JSON.parse(res.body.toString())).toEqual({
                errors: [{ code: 'DENIED', message: `this registry cache does not serve this repository (${reason})` }],
              });
            }
            refused++;
          }
        }
      }
    }
    const seen = await upstream.settledRequests();
    expect(seen.filter((r) => r.path !== '/v2/')).toEqual([]);
    // Nothing about these repositories in the cache's log (its own health checks may add /v2/ lines).
    const cacheNew = (await cacheLog()).slice(cacheBefore.length);
    for (const repo of ['library/ubuntu', 'other/app', 'library/app/extra']) expect(cacheNew).not.toContain(repo);
    const egressNew = (await egressLog()).slice(egressBefore.length);
    for (const repo of ['library/ubuntu', 'other/app', 'library/app/extra']) expect(egressNew).not.toContain(repo);

    // Counted: the API and /metrics say how many and why.
    const { body } = await adminJson(rc, '/api/v1/vhosts/docker.io');
    expect(body.traffic.repositoryRefused).toEqual({ denied: refused / 3, notAllowed: (2 * refused) / 3 });
    const metrics = await (await fetch(`${rc.adminUrl}/metrics`)).text();
    expect(metrics).toContain(`regcache_repository_refused_total{vhost="docker.io",reason="denied"} ${refused / 3}`);
    expect(metrics).toContain(`regcache_repository_refused_total{vhost="docker.io",reason="not_allowed"} ${(2 * refused) / 3}`);
    const page = await (await fetch(`${rc.adminUrl}/`)).text();
    expect(page).toContain(`refused by rules <b>${refused}</b>`);
  });

  it('serves allowed repositories (one segment under library/, any depth under team/), by vhost and by ?ns=', async () => {
    for (const [repo, headers, q] of [
      ['library/app', vhost('docker.io'), ''],
      ['team/a/b', shared, '?ns=docker.io'],
    ] as const) {
      const manifest = await getManifest(rc.routerUrl, repo, `v1${q}`, undefined, { headers });
      expect(manifest.status, repo).toBe(200);
      expect(manifest.digest).toBe(image.manifestDigest);
      const blob = await getBlob(rc.routerUrl, repo, `${image.layers[0]!.digest}${q}`, { headers });
      expect(blob.status).toBe(200);
      expect(sha256Digest(blob.body)).toBe(image.layers[0]!.digest);
      const tags = await rawRequest(`${rc.routerUrl}/v2/${repo}/tags/list${q}`, 'GET', headers);
      expect(JSON.parse(tags.body.toString()).tags).toEqual(['v1']);
    }
    // The cache's log names the repositories it is asked for, so its silence above means something.
    expect(await cacheLog()).toContain('library/app');
    expect(await egressLog()).toContain('library/app');
    // The /v2/ ping names no repository: never refused.
    expect((await rawRequest(`${rc.routerUrl}/v2/`, 'GET', vhost('docker.io'))).status).toBe(200);
  });

  it('leaves caches without rules alone', async () => {
    const res = await getManifest(rc.routerUrl, 'other/app', 'v1', undefined, { headers: vhost('ghcr.io') });
    expect(res.status).toBe(200);
  });

  it('nginx logs no warning for the refusal variable on any path (tags go through a named location)', async () => {
    const errors = await readFile(path.join(rc.dir, 'data', 'nginx', 'logs', 'error.log'), 'utf8').catch(() => '');
    expect(errors).not.toContain('uninitialized');
    const lines = (await readFile(path.join(rc.dir, 'data', 'nginx', 'logs', 'access.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.status === 200 && l.refused !== '')).toEqual([]);
    expect(lines.some((l) => l.status === 403 && l.refused === 'denied')).toBe(true);
  });

  it("warm is a client like any other: a denied repository fails its job with the router's answer", async () => {
    const started = await adminJson(rc, '/api/v1/warm', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ images: ['ubuntu:v1', 'docker.io/library/app:v1'], platforms: ['linux/amd64'] }),
    });
    expect(started.status).toBe(202);
    let job: any;
    for (let i = 0; i < 200 && job?.state !== 'failed' && job?.state !== 'done'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await adminJson(rc, `/api/v1/warm/${started.body.id}`)).body;
    }
    expect(job.state).toBe('failed');
    expect(job.images[0]).toMatchObject({
      image: 'docker.io/library/ubuntu:v1',
      state: 'failed',
      error: expect.stringContaining('HTTP 403: DENIED'),
    });
    expect(job.images[1]).toMatchObject({ image: 'docker.io/library/app:v1', state: 'done' });
  });

  it('a bad pattern is rejected naming it, and the live rules keep serving', async () => {
    await rc.writeConfig({
      registries: {
        'docker.io': { upstream: upstream.url, repositories: { allow: ['library/*', 'evil)|(.*'] } },
        'ghcr.io': { upstream: upstream.url },
      },
    });
    const reload = await adminJson(rc, '/api/v1/reload', { method: 'POST' });
    expect(reload.status).toBe(422);
    expect(reload.body.problems).toEqual([{ path: 'registries.docker.io.repositories.allow.1', message: expect.stringContaining('"evil)|(.*"') }]);
    expect((await getManifest(rc.routerUrl, 'other/app', 'v1', undefined, { headers: vhost('docker.io') })).status).toBe(403);
    expect((await getManifest(rc.routerUrl, 'library/app', 'v1', undefined, { headers: vhost('docker.io') })).status).toBe(200);
  });
});
