import { describe, expect, it } from 'vitest';
import { parseResolvConf } from '../../../src/apply/egress/egress-system.js';
import { egressNginxView, resolverDirective } from '../../../src/apply/egress/egress-view.js';
import { createEgressNginxRenderer, readNginxTemplates } from '../../../src/apply/nginx/render.js';
import { desiredState } from '../../../src/desired/desired-state.js';
import { egressPlan } from '../../../src/desired/egress-routes.js';
import { parseConfig } from '../../../src/config/parse.js';
import { configFrom } from '../../helpers/config.js';

const config = (extra = '', registryExtra = '') =>
  configFrom(
    `domain: registry.example.com
${extra}registries:
  docker.io:
    upstream: https://registry-1.docker.io
${registryExtra}  local.example:
    upstream: http://10.0.0.5:5000
`,
    '/d/registries.yaml',
  );
const system = { resolvers: ['10.255.255.53'], caFile: '/etc/ssl/certs/ca-certificates.crt' };
const ports = new Map([
  ['docker.io', 41001],
  ['local.example', 41002],
]);

describe('egress plan', () => {
  it('routes every cache through its own loopback egress by default', () => {
    const plan = egressPlan({ config: config(), ports, system, loopback: true });
    expect([...plan.routes.values()]).toEqual([
      { name: 'docker.io', listen: '127.0.0.1:41001', remoteUrl: 'http://127.0.0.1:41001', origin: 'https://registry-1.docker.io', mirrors: [] },
      { name: 'local.example', listen: '127.0.0.1:41002', remoteUrl: 'http://127.0.0.1:41002', origin: 'http://10.0.0.5:5000', mirrors: [] },
    ]);
    expect(plan.notes).toEqual([]);
    const specs = desiredState(config(), () => true, plan).caches;
    expect(specs.map((s) => [s.upstream, s.remoteUrl])).toEqual([
      ['https://registry-1.docker.io', 'http://127.0.0.1:41001'],
      ['http://10.0.0.5:5000', 'http://127.0.0.1:41002'],
    ]);
  });

  it('changes a cache spec (so the cache is replaced) when its egress comes or goes', () => {
    const on = desiredState(config(), () => true, egressPlan({ config: config(), ports, system, loopback: true })).caches[0]!;
    const off = desiredState(config(), () => true).caches[0]!;
    expect(off.remoteUrl).toBe('https://registry-1.docker.io');
    expect(on.specHash).not.toBe(off.specHash);
  });

  it('honours egress.enabled and the per-registry switch', () => {
    expect(egressPlan({ config: config('', '    egress: false\n'), ports, system, loopback: true }).routes.has('docker.io')).toBe(false);
    const globalOff = config('egress: { enabled: false }\n', '    egress: true\n');
    expect([...egressPlan({ config: globalOff, ports, system, loopback: true }).routes.keys()]).toEqual(['docker.io']);
  });

  it('goes direct, saying why, when caches cannot reach nginx on loopback or nothing can verify TLS', () => {
    const bridged = egressPlan({ config: config(), ports, system, loopback: false });
    expect(bridged.routes.size).toBe(0);
    expect(bridged.notes[0]!.message).toMatch(/loopback/);
    const noCa = egressPlan({ config: config(), ports, system: { ...system, caFile: null }, loopback: true });
    expect(noCa.routes.size).toBe(0);
    expect(noCa.notes[0]!.message).toMatch(/egress.caFile/);
  });

  it('needs a resolver only for upstream host names', () => {
    const plan = egressPlan({ config: config(), ports, system: { ...system, resolvers: [] }, loopback: true });
    expect([...plan.routes.keys()]).toEqual(['local.example']);
    expect(plan.notes).toEqual([{ vhost: 'docker.io', message: expect.stringMatching(/egress.resolver/) }]);
  });

  it('prefers the configured resolvers over the system ones', () => {
    const plan = egressPlan({ config: config('egress: { resolver: ["1.1.1.1", "2606:4700:4700::1111"] }\n'), ports, system, loopback: true });
    expect(plan.resolvers).toEqual(['1.1.1.1', '2606:4700:4700::1111']);
    expect(resolverDirective(plan.resolvers)).toEqual({ servers: ['1.1.1.1', '[2606:4700:4700::1111]'], ipv6: true });
    expect(resolverDirective(['10.0.0.2'])).toEqual({ servers: ['10.0.0.2'], ipv6: false });
  });

  it('rejects resolvers that are not IP addresses, naming the field', () => {
    const parsed = parseConfig(
      'domain: r.example\negress: { resolver: ["dns.example"] }\nregistries:\n  a.io:\n    upstream: https://a.io\n    egress: maybe\n',
      {
        source: '/d/r.yaml',
        env: {},
      },
    );
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems.map((p) => p.path).sort()).toEqual(['egress.resolver.0', 'registries.a.io.egress']);
  });
});

describe('resolv.conf', () => {
  it('keeps IP nameservers, drops comments, duplicates and link-local zone ids', () => {
    const text =
      '# generated\nsearch example.com\nnameserver 10.0.0.2\nnameserver 10.0.0.2\n nameserver ::1\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:5\n';
    expect(parseResolvConf(text)).toEqual(['10.0.0.2', '::1']);
  });
});

describe('egress render', () => {
  it('renders one listener per cache in one server, with verified TLS and the digest lock', () => {
    const c = config();
    const plan = egressPlan({ config: c, ports, system, loopback: true });
    const paths = {
      pid: '/d/egress-nginx/nginx.pid',
      errorLog: '/d/egress-nginx/logs/error.log',
      accessLog: '/d/egress-nginx/logs/access.log',
      temp: '/d/egress-nginx/temp',
      cache: '/d/egress-nginx/cache',
    };
    const view = egressNginxView({ config: c, plan, paths, generation: 3, controlPort: 41000 })!;
    const text = createEgressNginxRenderer(readNginxTemplates())(view);
    expect(text).toContain('resolver 10.255.255.53 ipv6=off;');
    expect(text).toContain(
      'proxy_cache_path /d/egress-nginx/cache/blobs levels=1:2 keys_zone=regcache_egress:4m max_size=10240m inactive=10m use_temp_path=off;',
    );
    expect(text.match(/listen 127\.0\.0\.1:410\d\d;/g)).toEqual(['listen 127.0.0.1:41000;', 'listen 127.0.0.1:41001;', 'listen 127.0.0.1:41002;']);
    expect(text).toContain('41001 "https://registry-1.docker.io";');
    expect(text).toContain('41002 "local.example";');
    expect(text).toContain('proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;');
    expect(text).toContain('proxy_ssl_verify on;');
    expect(text).toContain('proxy_cache_lock on;');
    expect(text).toContain('return 200 "3\\n";');
    // One location proxies, so nginx loads the CA bundle once however many caches there are.
    expect(text.match(/^\s*proxy_pass /gm)).toHaveLength(1);
    // cache.stallTimeout bounds every upstream read and write, not the total time.
    expect(text).toContain('proxy_read_timeout 60s;');
    expect(text).toContain('proxy_send_timeout 60s;');
    expect(text).toContain('proxy_connect_timeout 15s;');
    expect(text).toContain('proxy_cache_valid 502 504 2s;');
    // Failed fetches are written down and checked; redirects are classified, own listeners refused.
    expect(text).toContain('fastcgi_temp_path /d/egress-nginx/temp/failed;');
    expect(text).toContain('if (-f /d/egress-nginx/temp/failed/$regcache_egress_mark_key-$regcache_egress_slot_a) {');
    expect(text).toMatch(/if \(\$regcache_redirect_to ~ "\^loopback:\(\?:[0-9|]*41000[0-9|]*\)\$"\)/);
    expect(text).toContain('set $regcache_redirect_class never;');
  });

  it('renders cache.stallTimeout and egress.redirectAllow', () => {
    const c = config('cache: { stallTimeout: 5s }\negress: { redirectAllow: ["*.cdn.corp"] }\n');
    const plan = egressPlan({ config: c, ports, system, loopback: true });
    const paths = { pid: '/p', errorLog: '/e', accessLog: '/a', temp: '/t', cache: '/c' };
    const text = createEgressNginxRenderer(readNginxTemplates())(egressNginxView({ config: c, plan, paths, generation: 1, controlPort: 41000 })!);
    expect(text).toContain('proxy_read_timeout 5s;');
    expect(text).toContain('proxy_connect_timeout 5s;');
    expect(text).toContain('if ($regcache_redirect_host ~* "^(?:(?:[a-z0-9-]+\\.)+cdn\\.corp)\\.?$") {');
  });

  it('renders nothing when no cache fetches through egress', () => {
    const c = config('egress: { enabled: false }\n');
    const paths = { pid: '/p', errorLog: '/e', accessLog: '/a', temp: '/t', cache: '/c' };
    expect(
      egressNginxView({ config: c, plan: egressPlan({ config: c, ports, system, loopback: true }), paths, generation: 1, controlPort: 1 }),
    ).toBeNull();
  });
});
