import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReadConfigFile } from '../../../src/config/config-files.js';
import { parseConfig } from '../../../src/config/parse.js';
import { uncoveredHosts } from '../../../src/config/sections/tls-coverage.js';

/** A self-signed certificate for `*.registry.example.com` and `registry.example.com` (valid 100 years). */
const WILDCARD = readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'wildcard-registry-example-com.pem'), 'utf8');
/** The same wildcard without the bare `registry.example.com`. */
const WILDCARD_ONLY = readFileSync(
  path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'wildcard-only-registry-example-com.pem'),
  'utf8',
);
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';

function reader(files: Record<string, string>): ReadConfigFile {
  return (p) => (p in files ? { ok: true, text: files[p]! } : { ok: false, message: 'file not found' });
}
const parse = (text: string, files: Record<string, string> = {}) =>
  parseConfig(text, { source: '/etc/regcache/registries.yaml', env: {}, readFile: reader(files) });
const messages = (r: ReturnType<typeof parse>) => (r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`));

describe('mirrorOf', () => {
  it('defaults to the cache name; a cache may be named apart from the registry host it mirrors', () => {
    const r = parse(
      'domain: registry.example.com\nregistries:\n  hub:\n    upstream: https://registry-1.docker.io\n    mirrorOf: Docker.IO\n  ghcr.io:\n    upstream: https://ghcr.io\n',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.registries.map((x) => [x.name, x.mirrorOf, x.mirrorOrder, x.hosts[0]])).toEqual([
      ['ghcr.io', 'ghcr.io', null, 'ghcr.io.registry.example.com'],
      ['hub', 'docker.io', null, 'hub.registry.example.com'],
    ]);
  });

  it('rejects two caches of one registry host unless each has a distinct mirrorOrder, naming both', () => {
    const two = (extraA = '', extraB = '') =>
      parse(
        `domain: r.example.com\nregistries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n${extraA}  hub2:\n    upstream: https://registry-1.docker.io\n    mirrorOf: docker.io\n${extraB}`,
      );
    expect(messages(two())).toEqual([
      'registries.docker.io.mirrorOrder: docker.io is also mirrored by hub2; give each of them a distinct mirrorOrder (clients try lower first, ?ns=docker.io goes to the lowest)',
      'registries.hub2.mirrorOrder: docker.io is also mirrored by docker.io; give each of them a distinct mirrorOrder (clients try lower first, ?ns=docker.io goes to the lowest)',
    ]);
    expect(messages(two('    mirrorOrder: 1\n', '    mirrorOrder: 1\n'))).toEqual([
      "registries.hub2.mirrorOrder: mirrorOrder 1 is already docker.io's for docker.io; use distinct numbers",
    ]);
    const ok = two('    mirrorOrder: 2\n', '    mirrorOrder: 1\n');
    expect(ok.ok).toBe(true);
  });

  it('rejects a mirrorOf that is no DNS name', () => {
    expect(
      messages(parse('domain: r.example.com\nregistries:\n  hub:\n    upstream: https://x.example\n    mirrorOf: "docker.io/library"\n')),
    ).toEqual(["registries.hub.mirrorOf: must be a DNS name (letters, digits, '-' and '.')"]);
  });
});

describe('hostStyle', () => {
  it('dashed serves each cache at one label under the domain', () => {
    const r = parse(
      'domain: registry.example.com\nhostStyle: dashed\nregistries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n    aliases: [hub.example.com]\n  registry.k8s.io:\n    upstream: https://registry.k8s.io\n',
    );
    expect(r.ok && r.value.registries.map((x) => x.hosts)).toEqual([
      ['docker-io.registry.example.com', 'hub.example.com'],
      ['registry-k8s-io.registry.example.com'],
    ]);
  });

  it('rejects an unknown style and a dashed host that an alias already claims', () => {
    expect(messages(parse('domain: r.example.com\nhostStyle: flat\nregistries:\n  a.io:\n    upstream: https://a.io\n'))).toEqual([
      "hostStyle: Invalid enum value. Expected 'dotted' | 'dashed', received 'flat'",
    ]);
    expect(
      messages(
        parse(
          'domain: r.example.com\nhostStyle: dashed\nregistries:\n  a.io:\n    upstream: https://a.io\n  b.io:\n    upstream: https://b.io\n    aliases: [a-io.r.example.com]\n',
        ),
      ),
    ).toEqual(['registries.b.io.aliases: host a-io.r.example.com is already claimed by a.io']);
  });
});

describe('TLS certificate covers every served host', () => {
  const files = { '/etc/regcache/tls/cert.pem': WILDCARD, '/etc/regcache/tls/key.pem': KEY };
  const config = (style: string, aliases = '[]') =>
    parse(
      `domain: registry.example.com\nhostStyle: ${style}\ntls: {cert: tls/cert.pem, key: tls/key.pem}\nregistries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n    aliases: ${aliases}\n  quay:\n    upstream: https://quay.io\n`,
      files,
    );

  it('a wildcard covers one label: dotted hosts with a dot in the name are named in a warning', () => {
    const r = config('dotted', '[hub.other.example]');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.warnings).toEqual([
      {
        path: 'tls.cert',
        message:
          '/etc/regcache/tls/cert.pem does not cover docker.io.registry.example.com, hub.other.example; clients verifying TLS will refuse these hosts (a wildcard covers one label; hostStyle: dashed serves docker-io.<domain> instead of docker.io.<domain>)',
      },
    ]);
  });

  it('dashed hosts are covered by the wildcard: no warning', () => {
    const r = config('dashed');
    expect(r.ok && r.value.warnings).toEqual([]);
  });

  it('the bare domain (the single-mode endpoint) is checked too, unless a cache with its own certificate serves it', () => {
    const only = { ...files, '/etc/regcache/tls/cert.pem': WILDCARD_ONLY };
    const text = (aliases: string, ownTls: string) =>
      `domain: registry.example.com\nhostStyle: dashed\ntls: {cert: tls/cert.pem, key: tls/key.pem}\nregistries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n    aliases: ${aliases}\n${ownTls}`;
    const r = parse(text('[]', ''), only);
    expect(r.ok && r.value.warnings).toEqual([
      {
        path: 'tls.cert',
        message: '/etc/regcache/tls/cert.pem does not cover registry.example.com; clients verifying TLS will refuse these hosts',
      },
    ]);
    const own = parse(text('[registry.example.com]', '    tls: {cert: /own/cert.pem, key: /own/key.pem}\n'), {
      ...only,
      '/own/cert.pem': WILDCARD,
      '/own/key.pem': KEY,
    });
    expect(own.ok && own.value.warnings).toEqual([]);
  });

  it('uncoveredHosts matches one label only and is null for text that is no certificate', () => {
    expect(uncoveredHosts(WILDCARD, ['a.registry.example.com', 'registry.example.com', 'a.b.registry.example.com', 'registry.example.org'])).toEqual([
      'a.b.registry.example.com',
      'registry.example.org',
    ]);
    expect(uncoveredHosts('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', ['a.registry.example.com'])).toBeNull();
  });
});
