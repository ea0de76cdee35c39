import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { egressNginxView } from '../../../src/apply/egress/egress-view.js';
import { createEgressNginxRenderer, readNginxTemplates } from '../../../src/apply/nginx/render.js';
import { parseConfig } from '../../../src/config/parse.js';
import { egressPlan, mirrorPortKey } from '../../../src/desired/egress-routes.js';
import { configFrom } from '../../helpers/config.js';
import { nginxCheck } from '../../helpers/nginx-check.js';
import { requireBinary } from '../../helpers/binaries.js';
import { detectJsModule } from '../../../src/apply/nginx/nginx-features.js';
import { packageRoot } from '../../../src/util/package-root.js';

const parse = (registry: string, extra = '') =>
  parseConfig(`domain: r.example\n${extra}registries:\n  docker.io:\n${registry}`, { source: '/d/r.yaml', env: {} });
const problems = (registry: string, extra = '') => {
  const r = parse(registry, extra);
  return r.ok ? [] : r.problems;
};

describe('upstream mirror lists: validation', () => {
  it('accepts one URL or a list, keeping the order and the first as upstream', () => {
    const one = parse('    upstream: https://registry-1.docker.io/\n');
    expect(one.ok && one.value.registries[0]).toMatchObject({
      upstream: 'https://registry-1.docker.io',
      upstreams: ['https://registry-1.docker.io'],
    });
    const two = parse('    upstream: [https://registry-1.docker.io, https://mirror.gcr.io]\n');
    expect(two.ok && two.value.registries[0]).toMatchObject({
      upstream: 'https://registry-1.docker.io',
      upstreams: ['https://registry-1.docker.io', 'https://mirror.gcr.io'],
    });
  });

  it('checks every item by the single URL rules, naming its index', () => {
    expect(problems('    upstream: [https://a.example, ftp://b.example, "https://c.example/v2"]\n')).toEqual([
      { path: 'registries.docker.io.upstream.1', message: expect.stringMatching(/http or https/) },
      { path: 'registries.docker.io.upstream.2', message: expect.stringMatching(/no path/) },
    ]);
    expect(problems('    upstream: [https://a.example, 5]\n')).toEqual([
      { path: 'registries.docker.io.upstream.1', message: 'must be a URL string' },
    ]);
    expect(problems('    upstream: ftp://a.example\n')).toEqual([
      { path: 'registries.docker.io.upstream', message: expect.stringMatching(/http or https/) },
    ]);
    expect(problems('    upstream: { url: x }\n')[0]!.message).toMatch(/a URL .* or a list of mirror URLs/);
    expect(problems('    aliases: []\n')).toEqual([{ path: 'registries.docker.io.upstream', message: 'is required' }]);
  });

  it('refuses an empty list, more than 8 mirrors and duplicates', () => {
    expect(problems('    upstream: []\n')[0]!.message).toBe('must list at least one URL');
    const nine = Array.from({ length: 9 }, (_, i) => `https://m${i}.example`).join(', ');
    expect(problems(`    upstream: [${nine}]\n`)[0]!.message).toBe('lists 9 mirrors; at most 8');
    expect(problems('    upstream: [https://a.example, https://A.example:443/]\n')).toEqual([
      { path: 'registries.docker.io.upstream.1', message: 'https://a.example is already mirror 1 of this list' },
    ]);
  });

  it('refuses a list without the egress nginx, where failover lives', () => {
    expect(problems('    upstream: [https://a.example, https://b.example]\n    egress: false\n')).toEqual([
      { path: 'registries.docker.io.upstream', message: expect.stringMatching(/^a list of mirrors needs the egress nginx .*remove egress: false/) },
    ]);
    expect(problems('    upstream: [https://a.example, https://b.example]\n', 'egress: { enabled: false }\n')[0]!.message).toMatch(
      /egress.enabled is false/,
    );
    // One URL written as a list needs no failover.
    expect(problems('    upstream: [https://a.example]\n    egress: false\n')).toEqual([]);
  });

  it('reads egress.mirrorBackoff', () => {
    const c = parse('    upstream: https://a.example\n', 'egress: { mirrorBackoff: 2m }\n');
    expect(c.ok && c.value.egress.mirrorBackoffSeconds).toBe(120);
    const d = parse('    upstream: https://a.example\n');
    expect(d.ok && d.value.egress.mirrorBackoffSeconds).toBe(30);
    expect(problems('    upstream: https://a.example\n', 'egress: { mirrorBackoff: 0s }\n')[0]!.path).toBe('egress.mirrorBackoff');
  });
});

const text = `domain: registry.example.com
cache: { stallTimeout: 5s }
egress: { mirrorBackoff: 7s }
registries:
  docker.io:
    upstream: [https://registry-1.docker.io, https://mirror.gcr.io, http://127.0.0.1:5999]
  ghcr.io:
    upstream: https://ghcr.io
`;
const system = { resolvers: ['10.255.255.53'], caFile: '/etc/ssl/certs/ca-certificates.crt' };
const ports = new Map([
  ['docker.io', 41001],
  [mirrorPortKey('docker.io', 0), 41011],
  [mirrorPortKey('docker.io', 1), 41012],
  [mirrorPortKey('docker.io', 2), 41013],
  ['ghcr.io', 41002],
]);

describe('upstream mirror lists: egress plan and render', () => {
  it('gives a mirror list one hop listener per mirror, and a single upstream none', () => {
    const plan = egressPlan({ config: configFrom(text), ports, system, loopback: true });
    expect(plan.routes.get('docker.io')!.mirrors).toEqual([
      { origin: 'https://registry-1.docker.io', listen: '127.0.0.1:41011' },
      { origin: 'https://mirror.gcr.io', listen: '127.0.0.1:41012' },
      { origin: 'http://127.0.0.1:5999', listen: '127.0.0.1:41013' },
    ]);
    expect(plan.routes.get('ghcr.io')!.mirrors).toEqual([]);
    // Without the egress nginx a list falls back to its first mirror, and says so.
    const direct = egressPlan({ config: configFrom(text), ports, system, loopback: false });
    expect(direct.notes).toContainEqual({ vhost: 'docker.io', message: expect.stringMatching(/first mirror https:\/\/registry-1.docker.io only/) });
  });

  const render = (egressJs: { module: string; script: string } | null = null) => {
    const c = configFrom(text);
    const plan = egressPlan({ config: c, ports, system, loopback: true });
    const paths = {
      pid: '/d/e/nginx.pid',
      errorLog: '/d/e/logs/error.log',
      accessLog: '/d/e/logs/access.log',
      temp: '/d/e/temp',
      cache: '/d/e/cache',
    };
    return createEgressNginxRenderer(readNginxTemplates())(egressNginxView({ config: c, plan, paths, generation: 2, controlPort: 41000, egressJs })!);
  };

  it('renders the group (first primary, the rest backups, backoff as fail_timeout) and the hop listeners', () => {
    const out = render();
    expect(out).toContain(
      [
        '    upstream regcache_mirrors_docker_io {',
        '        # Shared by every worker, so a mirror one worker saw fail is skipped by all of them.',
        '        zone regcache_mirrors_docker_io 64k;',
        '        server 127.0.0.1:41011 max_fails=1 fail_timeout=7s;',
        '        server 127.0.0.1:41012 max_fails=1 fail_timeout=7s backup;',
        '        server 127.0.0.1:41013 max_fails=1 fail_timeout=7s backup;',
        '        keepalive 8;',
        '    }',
      ].join('\n'),
    );
    expect(out).toContain('41001 "http://regcache_mirrors_docker_io";');
    expect(out).toContain('41002 "https://ghcr.io";');
    expect(out).toContain('41001 @regcache_egress_mirrors;');
    expect(out).toContain('41012 "https://mirror.gcr.io";');
    expect(out).toContain('error_page 418 = $regcache_egress_entry;');
    expect(out).toContain('proxy_next_upstream error timeout http_500 http_502 http_503 http_504 http_429;');
    expect(out).toContain('proxy_next_upstream_tries 3;');
    expect(out).toContain('proxy_next_upstream_timeout 25s;');
    expect(out).toContain('proxy_pass $regcache_egress_mirror$request_uri;');
    expect(out).toMatch(/listen 127\.0\.0\.1:41013;/);
    // Mixed classes (public and loopback mirrors): redirects only to public hosts.
    expect(out).toMatch(/41001 none;/);
    // Hop listeners are never a redirect target.
    expect(out).toMatch(/\^loopback:\(\?:[0-9|]*41013[0-9|]*\)\$/);
    // The cache's token goes to the first mirror's host only; other mirrors are asked anonymously.
    const auth = /map \$server_port \$regcache_egress_mirror_auth \{([^}]*)\}/.exec(out)![1]!;
    expect(auth.match(/\d+ \$http_authorization;/g)).toEqual(['41011 $http_authorization;']);
    expect(out).toContain('proxy_set_header Authorization $regcache_egress_mirror_auth;');
    // Both fetching locations hold the same digest lock and key.
    expect(out.match(/proxy_cache_key "\$regcache_egress_vhost\|\$regcache_egress_digest";/g)).toHaveLength(2);
  });

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'regcache-mirrors-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('renders a config the real nginx -t accepts', async () => {
    for (const sub of ['logs', 'cache', 'temp/failed', 'temp/proxy', 'temp/client_body', 'temp/uwsgi', 'temp/scgi'])
      mkdirSync(path.join(tmp, sub), { recursive: true });
    const conf = path.join(tmp, 'egress.conf');
    // Resolvable names for nginx -t (the resolver is asked only at request time), paths under tmp.
    writeFileSync(
      conf,
      render()
        .replaceAll('/d/e', tmp)
        .replace(/^user .*$/m, ''),
    );
    expect(await nginxCheck(conf, tmp)).toBeNull();
  });

  it('with the njs module: waiters on a digest lock check the failure marks, and nginx -t accepts it', async () => {
    const module = await detectJsModule(requireBinary(['nginx'], 'REGCACHE_NGINX_BIN'));
    expect(module, 'libnginx-mod-http-js').not.toBeNull();
    const out = render({ module: module!, script: path.join(packageRoot(), 'nginx', 'egress.js') });
    expect(out).toContain(`load_module ${module};`);
    expect(out).toContain('js_set $regcache_egress_after_lock regcache_egress_js.failedBind;');
    expect(out).toContain('default "127.0.0.1:41000";');
    // Both fetching locations (direct and mirror group) evaluate it after the lock.
    expect(out.match(/^\s*proxy_bind \$regcache_egress_after_lock;/gm)).toHaveLength(2);
    const conf = path.join(tmp, 'egress-njs.conf');
    writeFileSync(conf, out.replaceAll('/d/e', tmp).replace(/^user .*$/m, ''));
    expect(await nginxCheck(conf, tmp)).toBeNull();
    expect(render()).not.toContain('proxy_bind');
  });
});
