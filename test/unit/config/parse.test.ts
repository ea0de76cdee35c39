import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/parse.js';

const parse = (text: string, env: Record<string, string> = {}) => parseConfig(text, { source: '/etc/regcache/registries.yaml', env });

const minimal = `
domain: registry.example.com
registries:
  docker.io:
    upstream: https://registry-1.docker.io
`;

describe('parseConfig', () => {
  it('applies defaults and derives hosts', () => {
    const r = parse(minimal);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.listen).toEqual({ host: '0.0.0.0', port: 5000 });
    expect(r.value.admin.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(r.value.runtime).toBe('auto');
    expect(r.value.dataDir).toBe('/etc/regcache/data');
    expect(r.value.registries).toEqual([
      expect.objectContaining({
        name: 'docker.io',
        upstream: 'https://registry-1.docker.io',
        credentials: null,
        hosts: ['docker.io.registry.example.com'],
      }),
    ]);
  });

  it('expands ${VAR} and ${VAR:-default} after parsing', () => {
    const r = parse(
      `domain: \${DOMAIN}
registries:
  docker.io:
    upstream: https://registry-1.docker.io
    username: \${USER_NAME:-}
    password: \${PASS:-}
    aliases: ["\${ALIAS:-hub.example.com}"]
`,
      { DOMAIN: 'Registry.Example.COM' },
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.domain).toBe('registry.example.com');
    expect(r.value.registries[0]!.credentials).toBeNull();
    expect(r.value.registries[0]!.hosts).toEqual(['docker.io.registry.example.com', 'hub.example.com']);
  });

  it('names the field path of every problem', () => {
    const r = parse(`
domain: "bad domain"
listen: "70000"
colour: blue
registries:
  ghcr.io:
    upstream: "https://ghcr.io; include /etc/passwd"
  quay.io:
    upstream: ftp://quay.io
    username: someone
`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const paths = r.problems.map((p) => p.path).sort();
    expect(paths).toEqual(['colour', 'domain', 'listen', 'registries.ghcr.io.upstream', 'registries.quay.io.upstream']);
  });

  it('reports an unset variable with the path that used it', () => {
    const r = parse(minimal.replace('https://registry-1.docker.io', '${UPSTREAM}'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([{ path: 'registries.docker.io.upstream', message: expect.stringContaining('UPSTREAM') }]);
  });

  it('refuses two registries claiming one host, and half a credential pair', () => {
    const r = parse(`
domain: example.com
registries:
  docker.io:
    upstream: https://registry-1.docker.io
    username: me
  ghcr.io:
    upstream: https://ghcr.io
    aliases: [docker.io.example.com]
`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual(
      expect.arrayContaining([
        { path: 'registries.docker.io.password', message: expect.stringContaining('together') },
        { path: 'registries.ghcr.io.aliases', message: expect.stringContaining('already claimed by docker.io') },
      ]),
    );
  });

  it('refuses registry names that are not lower-case DNS names', () => {
    const r = parse(`
domain: example.com
registries:
  "Docker.IO":
    upstream: https://registry-1.docker.io
  "a b":
    upstream: https://x.example
`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path).sort()).toEqual(['registries.Docker.IO', 'registries.a b']);
  });

  it('reports YAML syntax errors with a line number', () => {
    const r = parse('domain: [unclosed\nregistries: {}');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems[0]!.message).toMatch(/YAML syntax error at line \d+/);
  });

  it('requires at least one registry and the domain', () => {
    const r = parse('registries: {}');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual(
      expect.arrayContaining([
        { path: 'domain', message: 'is required' },
        { path: 'registries', message: 'must list at least one registry' },
      ]),
    );
  });
});
