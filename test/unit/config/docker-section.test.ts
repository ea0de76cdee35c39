import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/parse.js';

const parse = (extra: string) =>
  parseConfig(`domain: registry.example.com\n${extra}\nregistries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n`, {
    source: '/etc/regcache/registries.yaml',
    env: {},
  });

describe('docker section', () => {
  it('defaults to registry:2 on the registry-cache network', () => {
    const r = parse('');
    expect(r.ok && r.value.docker).toEqual({ image: 'registry:2', network: 'registry-cache', socket: null });
    expect(r.ok && r.value.nginx.container).toBeNull();
  });

  it('takes image, network, socket and nginx.container', () => {
    const r = parse(
      'docker:\n  image: 127.0.0.1:5001/mirror/registry:2.8.3\n  network: host\n  socket: unix:///run/docker.sock\nnginx:\n  container: regcache-nginx',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.docker).toEqual({ image: '127.0.0.1:5001/mirror/registry:2.8.3', network: 'host', socket: 'unix:///run/docker.sock' });
    expect(r.value.nginx.container).toBe('regcache-nginx');
  });

  it('names the field of each problem', () => {
    const r = parse(
      'docker:\n  image: "registry:2; rm -rf /"\n  network: "bad net"\n  socket: "relative.sock"\n  colour: blue\nnginx:\n  container: "-x"',
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path).sort()).toEqual(['docker.colour', 'docker.image', 'docker.network', 'docker.socket', 'nginx.container']);
  });
});
