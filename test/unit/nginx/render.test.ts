import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acceptSupport } from '../../../src/apply/nginx/nginx-features.js';
import { nginxView } from '../../../src/apply/nginx/nginx-view.js';
import { createNginxRenderer, readNginxTemplates } from '../../../src/apply/nginx/render.js';
import { configFrom } from '../../helpers/config.js';
import { MIRRORS, twoRegistriesYaml } from '../../helpers/config-fixtures.js';

const render = createNginxRenderer(readNginxTemplates());
const paths = {
  pid: '/d/nginx/nginx.pid',
  errorLog: '/d/nginx/logs/error.log',
  accessLog: '/d/nginx/logs/access.log',
  temp: '/d/nginx/temp',
  cache: '/d/nginx/cache',
};
const goldenDir = path.join(path.dirname(new URL(import.meta.url).pathname), 'golden');

const config = (text: string) => configFrom(text, '/d/registries.yaml');

/**
 * Golden files hold the whole expected output. A missing one fails: REGCACHE_UPDATE_GOLDEN=1 writes
 * them, after a reviewed change (see docs/testing.md).
 */
function expectGolden(name: string, actual: string) {
  const file = path.join(goldenDir, name);
  if (process.env.REGCACHE_UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  if (!existsSync(file))
    throw new Error(`golden file ${path.relative(process.cwd(), file)} is missing; run with REGCACHE_UPDATE_GOLDEN=1 to write it, then review it`);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const twoRegistries = config(twoRegistriesYaml('127.0.0.1:5000'));

describe('nginx render', () => {
  it('renders the map and upstream blocks for every routed registry (golden)', () => {
    const backends = new Map([
      ['docker.io', '127.0.0.1:41001'],
      ['ghcr.io', '127.0.0.1:41002'],
    ]);
    expectGolden('two-registries.conf', render(nginxView({ config: twoRegistries, backends, paths, generation: 7 })));
  });

  it('leaves out registries that have no backend yet', () => {
    const out = render(nginxView({ config: twoRegistries, backends: new Map([['ghcr.io', '127.0.0.1:41002']]), paths, generation: 1 }));
    expect(out).not.toContain('cache_docker_io');
    expect(out).not.toContain('hub.example.com');
    expect(out).toContain('"ghcr.io.registry.example.com" cache_ghcr_io;');
  });

  it('is a pure function: same view, same bytes', () => {
    const view = nginxView({ config: twoRegistries, backends: new Map([['ghcr.io', '127.0.0.1:1']]), paths, generation: 3 });
    expect(render(view)).toBe(render(view));
  });
});

describe('nginx render: caches', () => {
  const cached = config(`
domain: registry.example.com
cache: { maxSize: 20g, tagTTL: 45, lockTimeout: 2h }
registries:
  docker.io:
    upstream: https://registry-1.docker.io
    cache: { tagTTL: 0 }
  ghcr.io:
    upstream: https://ghcr.io
  quay.io:
    upstream: https://quay.io
    cache: { maxSize: 1536m }
`);
  const backends = new Map([
    ['docker.io', '127.0.0.1:41001'],
    ['ghcr.io', '127.0.0.1:41002'],
    ['quay.io', '127.0.0.1:41003'],
  ]);
  const view = nginxView({ config: cached, backends, paths, generation: 2 });
  const out = render(view);

  it('gives every registry its own bounded cache under dataDir', () => {
    expect(view.cacheZones).toEqual([
      { zone: 'regcache_docker_io', path: '/d/nginx/cache/docker-io', keysZoneSize: '20m', maxSize: '20480m', inactive: '2592000s' },
      { zone: 'regcache_ghcr_io', path: '/d/nginx/cache/ghcr-io', keysZoneSize: '20m', maxSize: '20480m', inactive: '2592000s' },
      { zone: 'regcache_quay_io', path: '/d/nginx/cache/quay-io', keysZoneSize: '2m', maxSize: '1536m', inactive: '2592000s' },
    ]);
    expect(out).toContain(
      'proxy_cache_path /d/nginx/cache/quay-io levels=1:2 keys_zone=regcache_quay_io:2m max_size=1536m inactive=2592000s use_temp_path=off;',
    );
    expect(out).toContain('cache_ghcr_io regcache_ghcr_io;');
  });

  it('shares one tag location per tagTTL and passes tags through where tagTTL is 0', () => {
    expect(view.tagLocations).toEqual([
      { name: '@regcache_tags_uncached', validFor: null, referrers: '@regcache_referrers_uncached' },
      { name: '@regcache_tags_45s', validFor: '45s', referrers: '@regcache_referrers_45s' },
    ]);
    expect(out).toContain('cache_docker_io @regcache_tags_uncached;');
    expect(out).toContain('cache_quay_io @regcache_tags_45s;');
    const uncached = out.slice(out.indexOf('location @regcache_tags_uncached'), out.indexOf('location @regcache_tags_45s'));
    expect(uncached).not.toContain('proxy_cache ');
    const microcached = out.slice(out.indexOf('location @regcache_tags_45s'));
    expect(microcached).toContain('proxy_cache_valid 200 45s;');
    expect(microcached).toContain('proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504 http_429;');
  });

  it('times out a silent cache after cache.stallTimeout plus a margin, and remembers failed digest fetches for 2 s', () => {
    expect(out).toContain('proxy_read_timeout 70s;');
    expect(out).toContain('proxy_cache_valid 500 502 503 504 2s;');
    expect(out).toContain('error_page 500 = @regcache_fetch_failed;');
    expect(out).not.toContain('regcache_disk_full');
  });

  it("answers 503 for what an unreachable upstream's cache lacks, and 507 for cold digests when the disk is low", () => {
    const down = render(
      nginxView({ config: cached, backends, paths, generation: 2, upstreamDown: new Set(['ghcr.io']), diskFull: 'disk almost full: "x"; {y}' }),
    );
    expect(down).toMatch(/map \$regcache_backend \$regcache_upstream_down \{\n\s+default 0;\n\s+cache_ghcr_io 1;\n\s+\}/);
    expect(down).toContain('"~^/v2/.+/(?:blobs|manifests)/sha256:[0-9a-f]{64}$" regcache_disk_full;');
    expect(down).toContain('listen unix:/d/nginx/temp/disk-full.sock;');
    // The message cannot break out of nginx's or JSON's quoting.
    expect(down).toContain('return 507 \'{"errors":[{"code":"UNAVAILABLE","message":"disk almost full:  x    y "}]}\\n\';');
  });

  it('holds concurrent digest misses for the configured lock timeout', () => {
    expect(out).toContain('proxy_cache_lock_timeout 7200s;');
    expect(out).toContain('proxy_cache_lock_age 7200s;');
  });
});

describe('nginx render: the whole Accept header', () => {
  const view = (accept: ReturnType<typeof acceptSupport>) =>
    render(nginxView({ config: twoRegistries, backends: new Map([['ghcr.io', '127.0.0.1:1']]), paths, generation: 1, accept }));

  it('knows which nginx sees every Accept line', () => {
    expect(acceptSupport('nginx version: nginx/1.22.1', null, '/s.js')).toEqual({ variable: '$http_accept', complete: false, js: null });
    expect(acceptSupport('nginx version: nginx/1.22.1', '/m/ngx_http_js_module.so', '/s.js')).toEqual({
      variable: '$regcache_accept',
      complete: true,
      js: { module: '/m/ngx_http_js_module.so', script: '/s.js' },
    });
    // nginx 1.23 joins repeated headers itself.
    expect(acceptSupport('nginx version: nginx/1.25.3', '/m/ngx_http_js_module.so', '/s.js')).toEqual({
      variable: '$http_accept',
      complete: true,
      js: null,
    });
    expect(acceptSupport('garbage', null, '/s.js').complete).toBe(false);
  });

  it('with njs: loads the module, joins the lines, and lets every tag request use the microcache', () => {
    const out = view(acceptSupport('nginx version: nginx/1.22.1', '/m/ngx_http_js_module.so', '/pkg/nginx/accept.js'));
    expect(out.split('\n').slice(0, 3)).toContain('load_module /m/ngx_http_js_module.so;');
    expect(out).toContain('js_import regcache_accept from /pkg/nginx/accept.js;');
    expect(out).toContain('proxy_cache_key "$regcache_vhost|tag|$request_uri|$regcache_accept";');
    expect(out).not.toContain('regcache_accept_uncacheable');
  });

  it('without: keys by the first line and lets lone media types skip the microcache', () => {
    const out = view(acceptSupport('nginx version: nginx/1.22.1', null, '/s.js'));
    expect(out).not.toContain('load_module');
    expect(out).toContain('proxy_cache_key "$regcache_vhost|tag|$request_uri|$http_accept";');
    expect(out).toContain('proxy_cache_bypass $regcache_accept_uncacheable;');
  });

  it('without: by-digest manifests with a lone media type skip the cache too (blobs never do)', () => {
    const out = view(acceptSupport('nginx version: nginx/1.22.1', null, '/s.js'));
    const manifests = out.slice(out.indexOf('(?<regcache_kind>manifests)'), out.indexOf('location ~ "^/v2/.+/manifests/[^/]+$"'));
    expect(manifests).toContain('proxy_cache_key "$regcache_vhost|$regcache_kind|$regcache_digest$regcache_digest_variant";');
    expect(manifests).toContain('proxy_cache_bypass $regcache_accept_uncacheable;');
    expect(manifests).toContain('proxy_no_cache $regcache_accept_uncacheable;');
    const blobs = out.slice(out.indexOf('location ~ "^/v2/.+/blobs/'), out.indexOf('(?<regcache_kind>manifests)'));
    expect(blobs).not.toContain('regcache_accept_uncacheable');
    const complete = view(acceptSupport('nginx version: nginx/1.25.3', null, '/s.js'));
    expect(complete).not.toContain('regcache_accept_uncacheable');
  });
});

describe('nginx render: registry hosts, referrers and protocol maps', () => {
  const mirrors = config(MIRRORS);
  const backends = new Map([
    ['docker.io', '127.0.0.1:1'],
    ['hub', '127.0.0.1:2'],
    ['k8s', '127.0.0.1:3'],
  ]);
  const out = render(nginxView({ config: mirrors, backends, paths, generation: 1, egress: new Map([['hub', '127.0.0.1:9001']]) }));
  const block = (start: string) => out.slice(out.indexOf(start), out.indexOf('}', out.indexOf(start)));

  it('?ns=<registry host> goes to the first cache of that host; cache names are not ns values', () => {
    expect(block('map $regcache_ns_key $regcache_ns_backend')).toBe(
      'map $regcache_ns_key $regcache_ns_backend {\n        default "";\n        "docker.io" cache_hub;\n        "registry.k8s.io" cache_k8s;\n    ',
    );
  });

  it('referrers and blob HEADs reach the upstream through the egress of caches that have one', () => {
    expect(block('map $regcache_backend $regcache_egress_address')).toBe(
      'map $regcache_backend $regcache_egress_address {\n        default "";\n        cache_hub "127.0.0.1:9001";\n    ',
    );
    expect(out).toContain('location ~ "^/v2/.+/referrers/sha256:[0-9a-f]{64}$"');
    expect(out).toContain('location @regcache_referrers_30s {');
  });

  it('keys digest manifests with Accept and blobs without', () => {
    expect(block('map $regcache_kind $regcache_digest_variant')).toBe(
      'map $regcache_kind $regcache_digest_variant {\n        default "";\n        manifests "|$http_accept";\n    ',
    );
    expect(out).toContain('proxy_cache_key "$regcache_vhost|$regcache_kind|$regcache_digest$regcache_digest_variant";');
  });
});
