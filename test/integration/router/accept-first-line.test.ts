// nginx before 1.23 without njs gives $http_accept the first Accept line only, and Docker sends one line
// per media type. A by-digest manifest request whose first line is a lone media type must then skip the
// cache: else a 200 fetched with [docker, oci] (stored under "docker") would answer a docker-only Accept
// that the upstream refuses with 404. The nginx here is run through a wrapper that hides the njs module.
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../helpers/binaries.js';
import { acceptSupport } from '../../../src/apply/nginx/nginx-features.js';
import { generateImage, MediaTypes } from '../../helpers/image.js';
import { startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const HOST = 'ghcr.io.registry.test';
const REPO = 'org/accept';

const nginx = requireBinary(['nginx'], 'REGCACHE_NGINX_BIN');
// `nginx -v` writes its version to stderr.
const versionText = spawnSync(nginx, ['-v'], { encoding: 'utf8' }).stderr;
const [major, minor] = (/nginx\/(\d+)\.(\d+)/.exec(versionText) ?? ['', '0', '0']).slice(1).map(Number) as [number, number];
// From 1.23 nginx joins repeated headers itself: there is no first-line-only nginx to test.
const firstLineOnly = major === 1 && minor < 23;

interface Answer {
  status: number;
  mediaType: string | null;
  digest: string | null;
  cache: string | null;
}

/** A GET with one Accept header line per entry, as Docker sends them. */
function get(url: string, accept: string[], host?: string): Promise<Answer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        hostname: target.hostname,
        port: target.port,
        path: target.pathname,
        headers: { accept, ...(host ? { host } : {}) },
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            mediaType: res.statusCode === 200 ? (res.headers['content-type'] ?? null) : null,
            digest: res.statusCode === 200 ? ((res.headers['docker-content-digest'] as string | undefined) ?? null) : null,
            cache: (res.headers['x-cache-status'] as string | undefined) ?? null,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

// From 1.23 the mode this file tests cannot occur: say so with an assertion rather than a skip.
if (!firstLineOnly)
  describe('by-digest manifests and the Accept header on nginx ≥ 1.23', () => {
    it('nginx joins repeated Accept lines itself: there is no first-line-only mode', () => {
      expect(acceptSupport(versionText, null, '').complete).toBe(true);
    });
  });

if (firstLineOnly)
  describe('by-digest manifests on an nginx that sees only the first Accept line', () => {
    let upstream: UpstreamRegistry;
    let rc: RunningRegcache;
    let wrapperDir: string;
    const image = generateImage({ seed: 'accept-first-line', layers: [1000], mediaType: 'oci' });
    const path_ = `/v2/${REPO}/manifests/${image.manifestDigest}`;
    const both = async (accept: string[]) => {
      const direct = await get(`${upstream.url}${path_}`, accept);
      const routed = await get(`${rc.routerUrl}${path_}`, accept, HOST);
      return { direct, routed };
    };
    const comparable = ({ cache: _cache, ...rest }: Answer) => rest;

    beforeAll(async () => {
      wrapperDir = await mkdtemp(path.join(tmpdir(), 'regcache-nginx-nojs-'));
      const wrapper = path.join(wrapperDir, 'nginx');
      // `nginx -V` names a modules path without ngx_http_js_module.so; everything else is the real nginx.
      await writeFile(
        wrapper,
        `#!/bin/sh\nif [ "$1" = "-V" ]; then "${nginx}" -V 2>&1 | sed 's|--modules-path=[^ ]*|--modules-path=${wrapperDir}|' >&2; exit 0; fi\nexec "${nginx}" "$@"\n`,
      );
      await chmod(wrapper, 0o755);
      upstream = await startUpstreamRegistry();
      await seedUpstream(upstream, [{ repository: REPO, tag: 'v1', image }]);
      rc = await startRegcache({ registries: { 'ghcr.io': { upstream: upstream.url } } }, { env: { REGCACHE_NGINX_BIN: wrapper } });
    });
    afterAll(async () => {
      await rc?.stop();
      await upstream?.stop();
      if (wrapperDir) await rm(wrapperDir, { recursive: true, force: true });
    });

    it('runs the first-line-only config (no njs)', async () => {
      const conf = await readFile(path.join(rc.dir, 'data', 'nginx', 'nginx.conf'), 'utf8');
      expect(conf).not.toContain('js_import');
      expect(conf).toContain('map $http_accept $regcache_accept_uncacheable');
    });

    it('a lone first line skips the cache, so a docker-only Accept still gets the upstream 404', async () => {
      const dockerThenOci = [MediaTypes.dockerManifest, MediaTypes.ociManifest];
      const fetched = await both(dockerThenOci);
      expect(fetched.direct.status).toBe(200);
      expect(comparable(fetched.routed)).toEqual(comparable(fetched.direct));
      expect(fetched.routed.cache).toBe('BYPASS');
      const again = await both(dockerThenOci);
      expect(comparable(again.routed)).toEqual(comparable(again.direct));
      expect(again.routed.cache).toBe('BYPASS');

      const dockerOnly = await both([MediaTypes.dockerManifest]);
      expect(dockerOnly.direct.status).toBe(404);
      expect(dockerOnly.routed.status).toBe(404);
    });

    it('a whole Accept on one line (commas) still uses the cache', async () => {
      const oneLine = [`${MediaTypes.dockerManifest}, ${MediaTypes.ociManifest}`];
      const first = await both(oneLine);
      expect(comparable(first.routed)).toEqual(comparable(first.direct));
      expect(first.routed.cache).toBe('MISS');
      const second = await both(oneLine);
      expect(comparable(second.routed)).toEqual(comparable(second.direct));
      expect(second.routed.cache).toBe('HIT');
    });
  });
