import { describe, expect, it } from 'vitest';
import { nginxView } from '../../../src/apply/nginx/nginx-view.js';
import { createNginxRenderer, readNginxTemplates } from '../../../src/apply/nginx/render.js';
import { configFrom } from '../../helpers/config.js';

const render = createNginxRenderer(readNginxTemplates());
const paths = { pid: '/d/nginx.pid', errorLog: '/d/error.log', accessLog: '/d/access.log', temp: '/d/temp', cache: '/d/cache' };
const SECRET = 'render-secret-0123456789';
const config = configFrom(`
domain: registry.example.com
listen: 5000
cluster:
  listen: 10.0.0.2:5001
  peers: [10.0.0.3:5001, 10.0.0.1:5001, 10.0.0.2:5001]
  self: 10.0.0.2:5001
  secret: ${SECRET}
registries:
  docker.io:
    upstream: https://registry-1.docker.io
`);
const membership = { members: ['10.0.0.1:5001', '10.0.0.2:5001', '10.0.0.3:5001'], self: '10.0.0.2:5001' };
const rendered = render(
  nginxView({
    config,
    backends: new Map([['docker.io', '127.0.0.1:41001']]),
    paths,
    generation: 4,
    cluster: { config: config.cluster!, membership },
  }),
);
/** The text of the server block that listens on `listen`. */
const serverOf = (listen: string) => {
  const start = rendered.lastIndexOf('server {', rendered.indexOf(`listen ${listen}`));
  const next = rendered.indexOf('\n    server {', start + 1);
  return rendered.slice(start, next === -1 ? undefined : next);
};

describe('nginx render: cluster', () => {
  it('puts every member on the consistent-hash ring, keyed by digest or by cache and repository', () => {
    expect(rendered).toContain('hash $regcache_shard_key consistent;');
    for (const m of membership.members) expect(rendered).toContain(`server ${m} max_fails=2 fail_timeout=5s;`);
    expect(rendered).toContain('"~^/v2/.+/(?:blobs|manifests)/(sha256:[0-9a-f]{64})$" $1;');
    expect(rendered).toContain('"~^/v2/(.+)/(?:manifests|tags|referrers|blobs)/" "$regcache_vhost|$1";');
  });

  it('has the public listener forward to the ring with the secret, and serve nothing locally', () => {
    const pub = serverOf('0.0.0.0:5000 default_server');
    expect(pub).toContain('proxy_pass http://regcache_ring;');
    expect(pub).toContain(`proxy_set_header X-Regcache-Peer "${SECRET}";`);
    expect(pub).toContain('proxy_next_upstream error timeout;');
    expect(pub).toContain('proxy_connect_timeout 1s;');
    expect(pub).toContain('$regcache_repository_rule');
    expect(pub).not.toContain('try_files');
    expect(pub).not.toContain('proxy_pass http://$regcache_pass');
    // When no node on the ring takes a request, this node's own peer listener answers it, with the secret.
    const fallback = pub.slice(pub.indexOf('location @regcache_ring_unavailable {'));
    expect(fallback).toMatch(/^location @regcache_ring_unavailable \{\n\s+proxy_pass http:\/\/regcache_self;/);
    expect(fallback.slice(0, fallback.indexOf('}'))).toContain(`proxy_set_header X-Regcache-Peer "${SECRET}";`);
    expect(rendered).toMatch(new RegExp(`upstream regcache_self \\{\\n\\s+server ${membership.self.replace(/\./g, '\\.')};`));
  });

  it('has the peer listener refuse requests without the secret and serve from the caches', () => {
    const peer = serverOf('10.0.0.2:5001;');
    expect(peer).toContain(`if ($http_x_regcache_peer != "${SECRET}") {`);
    expect(peer).toContain('try_files');
    expect(peer).toContain('proxy_pass http://$regcache_pass;');
    expect(peer).not.toContain('regcache_ring');
  });
});
