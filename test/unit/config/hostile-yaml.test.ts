// Bounded config parsing: hostile, huge, binary and foreign files give a few short problems that
// never quote the file, secrets keep their characters, and nothing throws.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfigFile } from '../../../src/config/load.js';
import { parseConfig } from '../../../src/config/parse.js';
import { MAX_PROBLEMS } from '../../../src/config/problems.js';
import { YAML_LIMITS } from '../../../src/config/read-yaml.js';

const parse = (text: string, env: Record<string, string> = {}) => parseConfig(text, { source: '/etc/regcache/registries.yaml', env });
const messages = (text: string) => {
  const r = parse(text);
  return r.ok ? [] : r.problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));
};
const base = (extra = '', registry = '') =>
  `domain: registry.example.com\n${extra}registries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n${registry}`;

describe('bounded YAML', () => {
  it('rejects an alias bomb without throwing', () => {
    const bomb = [
      'a: &a [x,x,x,x,x,x,x,x,x,x]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    ].join('\n');
    expect(messages(base() + bomb.replace(/^/gm, '  '))).toEqual([`YAML aliases expand to more than ${YAML_LIMITS.maxAliasExpansion} nodes`]);
    const many = `x: &x 1\ny: [${Array.from({ length: 150 }, () => '*x').join(', ')}]\n`;
    expect(messages(many)).toEqual([`the file uses 150 YAML aliases (*name); at most ${YAML_LIMITS.maxAliases}`]);
  });

  it('keeps modest anchors working', () => {
    const r = parse(`domain: registry.example.com\nx-defaults: &up https://ghcr.io\nregistries:\n  ghcr.io:\n    upstream: *up\n`);
    // An unknown top-level key is still a problem, but the alias itself resolves.
    expect(r.ok ? [] : r.problems).toEqual([{ path: 'x-defaults', message: 'unknown key' }]);
    const ok = parse(`domain: registry.example.com\nregistries:\n  ghcr.io:\n    upstream: &up https://ghcr.io\n  quay.io:\n    upstream: *up\n`);
    expect(ok.ok && ok.value.registries.map((r) => r.upstream)).toEqual(['https://ghcr.io', 'https://ghcr.io']);
  });

  it('refuses huge files, deep nesting and too many items before parsing', () => {
    expect(messages('x: "' + 'a'.repeat(YAML_LIMITS.maxBytes) + '"')[0]).toMatch(/^the file is \d+ bytes; a config may be at most 524288 bytes/);
    expect(messages('['.repeat(10_000))).toEqual([`collections nest 10000 deep; at most ${YAML_LIMITS.maxFlowDepth}`]);
    // Brackets count as items: each opens a node, even nested within the depth limit.
    expect(messages('x:\n' + `- ${'['.repeat(64)}1${']'.repeat(64)}\n`.repeat(500))[0]).toMatch(/^the file has 32501 lines, list items and brackets/);
    expect(messages('x:\n' + '- 1\n'.repeat(30_000))[0]).toMatch(
      /^the file has 30001 lines, list items and brackets; a config may have at most 25000$/,
    );
  });

  it('binary content is named, never echoed', () => {
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
    const m = messages(bytes.toString('utf8'));
    expect(m).toEqual(['this is not a YAML text file (it contains control characters); nothing of it was read']);
    // U+FFFD is a character like any other in text; bytes that are not UTF-8 are refused when the file is read.
    expect(messages(base().replace('registry.example.com', 'caf\ufffd'))).toEqual(["domain: must be a DNS name (letters, digits, '-' and '.')"]);
  });

  it('a foreign file (passwd, nginx.conf, another YAML) is named without its content', () => {
    const passwd =
      'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nsecret-user:x:1000:1000::/home/secret-user:/bin/sh\n';
    const nginxConf = 'user www-data;\nhttp {\n\tsendfile on;\n\tinclude /etc/nginx/mime.types;\n}\n';
    const compose = 'services:\n  web:\n    image: secret-image\nvolumes:\n  private-volume: {}\n';
    for (const text of [passwd, nginxConf, compose]) {
      const m = messages(text);
      expect(m.length).toBeGreaterThan(0);
      expect(m.length).toBeLessThanOrEqual(MAX_PROBLEMS + 1);
      for (const word of ['secret', 'www-data', 'sendfile', 'mime', 'private', 'daemon', 'nologin']) expect(m.join('\n')).not.toContain(word);
    }
    expect(messages(compose)).toEqual(['this is not a regcache config: none of its 2 top-level keys is a regcache key (domain:, registries:, …)']);
  });

  it('caps the number and length of problems', () => {
    const regs = Array.from({ length: 200 }, (_, i) => `  r${i}.example.com:\n    upstream: ftp://x\n`).join('');
    const r = parse(`domain: registry.example.com\nregistries:\n${regs}`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(r.problems.at(-1)).toEqual({ path: '', message: `and ${200 - MAX_PROBLEMS} more problems` });
    const long = parse(base('', `    ${'k'.repeat(900)}: 1\n`));
    expect(long.ok).toBe(false);
    if (long.ok) return;
    expect(long.problems[0]!.path.length).toBeLessThanOrEqual(120);
  });

  it('keeps secrets as written: numbers, exponents and booleans stay strings', () => {
    const cred = (password: string, token: string) => parse(base(`admin:\n  token: ${token}\n`, `    username: 0042\n    password: ${password}\n`));
    const r = cred('0123', '1234567890123456789');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.registries[0]!.credentials).toEqual({ username: '0042', password: '0123' });
    expect(r.value.admin.token).toBe('1234567890123456789');
    const exp = cred('1e15', '1e15');
    expect(exp.ok ? [] : exp.problems).toEqual([{ path: 'admin.token', message: 'must be at least 16 characters' }]);
    const yes = cred('yes', '0x1234567890abcdef12');
    expect(yes.ok && yes.value.registries[0]!.credentials?.password).toBe('yes');
    expect(yes.ok && yes.value.admin.token).toBe('0x1234567890abcdef12');
    const t = parse(base('', `    username: true\n    password: 1.50\n`));
    expect(t.ok && t.value.registries[0]!.credentials).toEqual({ username: 'true', password: '1.50' });
  });

  it('keeps cluster.secret as written', () => {
    const cluster = (secret: string) =>
      parse(base(`cluster:\n  listen: 0.0.0.0:5001\n  peers: [10.0.0.1:5001, 10.0.0.2:5001]\n  self: 10.0.0.1:5001\n  secret: ${secret}\n`));
    for (const secret of ['01234567890123456789', '1234567890123456789', '0x1234567890abcdef12']) {
      const r = cluster(secret);
      expect(r.ok ? r.value.cluster?.secret : r.problems, secret).toBe(secret);
    }
    // An exponent stays text too: refused for its length, not turned into 1e+30.
    const exponent = cluster('1e30');
    expect(exponent.ok ? [] : exponent.problems.map((p) => p.path)).toEqual(['cluster.secret']);
  });

  it('syntax errors give a position and never quote the text', () => {
    const m = messages('domain: registry.example.com\nregistries:\n  docker.io:\n   upstream: "https://secret-host\n');
    expect(m.length).toBeGreaterThan(0);
    expect(m.join('\n')).not.toContain('secret-host');
    expect(m[0]).toMatch(/^YAML syntax error at line \d+, column \d+: /);
    expect(messages('a: 1\na: 2\ndomain: x\n')).toEqual(['YAML: duplicate key at line 2, column 1']);
  });
});

describe('stricter validation', () => {
  it('rejects names and aliases nginx reads as map keywords', () => {
    for (const word of ['include', 'default', 'hostnames', 'volatile']) {
      expect(messages(`domain: registry.example.com\nregistries:\n  ${word}:\n    upstream: https://x.example\n`)).toEqual([
        `registries.${word}: "${word}" cannot be a registry name: nginx reads it as a keyword in a map`,
      ]);
      expect(messages(base('', `    aliases: [${word.toUpperCase()}]\n`))).toEqual([
        `registries.docker.io.aliases.0: must not be an nginx map keyword (default, hostnames, include, volatile)`,
      ]);
    }
    expect(parse(base('', '    aliases: [includes.example, default-hub]\n')).ok).toBe(true);
  });

  it('listen takes addresses, not names or malformed IPv6', () => {
    for (const bad of ['[:::::]:5000', 'evil.example:5000', 'localhost:5000', '[::1', '[1.2.3.4]:80']) {
      const m = messages(base(`listen: "${bad}"\n`));
      expect(m, bad).toHaveLength(1);
      expect(m[0], bad).toMatch(/^listen: /);
    }
    expect(messages(base('admin:\n  listen: "evil.example:8080"\n'))[0]).toMatch(/^admin\.listen: "evil\.example" is not an IPv4 address/);
    for (const good of ['5000', '127.0.0.1:5000', '[::1]:5000', '[::]:5000', '0.0.0.0:80'])
      expect(parse(base(`listen: "${good}"\n`)).ok, good).toBe(true);
  });

  it('upstream URLs: no control characters, no empty query or fragment, no scheme without slashes', () => {
    for (const bad of [
      'https://ghcr.io#',
      'https://ghcr.io?',
      'https://ghcr.io/?',
      'http:ghcr.io',
      'http:/ghcr.io',
      'https://ghcr.io\\x01',
      'https://gh\\x7fcr.io',
      'https://ghcr.io\\u0085',
      'https://ghcr.io:99999',
      'https://u@ghcr.io',
      'https://ghcr.io/v2',
    ]) {
      // Double-quoted YAML: its escapes (\x01) put the control characters into the value itself.
      const m = messages(base().replace('https://registry-1.docker.io', `"${bad}"`));
      expect(m, JSON.stringify(bad)).toHaveLength(1);
      expect(m[0], JSON.stringify(bad)).toMatch(/^registries\.docker\.io\.upstream: /);
    }
    for (const good of ['https://ghcr.io', 'https://ghcr.io/', 'http://127.0.0.1:5000', 'http://[::1]:5000', 'HTTPS://Registry-1.Docker.IO']) {
      expect(parse(base().replace('https://registry-1.docker.io', good)).ok, good).toBe(true);
    }
  });
});

describe('loading a file', () => {
  it('refuses bytes that are not UTF-8, FIFOs, devices and oversized files without reading them', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'regcache-load-'));
    try {
      const file = (name: string) => path.join(dir, name);
      const problem = async (name: string) => {
        const r = await loadConfigFile(file(name), {});
        return r.ok ? 'ok' : r.problems.map((p) => p.message).join('\n');
      };
      await writeFile(file('latin1.yaml'), Buffer.from('domain: caf\xe9.example\n', 'latin1'));
      expect(await problem('latin1.yaml')).toMatch(/: this is not a YAML text file \(it is not UTF-8\); nothing of it was read$/);
      execFileSync('mkfifo', [file('fifo.yaml')]);
      expect(await problem('fifo.yaml')).toMatch(/: not a regular file$/);
      await symlink('/dev/zero', file('zero.yaml'));
      expect(await problem('zero.yaml')).toMatch(/: not a regular file$/);
      await writeFile(file('big.yaml'), 'x'.repeat(YAML_LIMITS.maxBytes + 1));
      expect(await problem('big.yaml')).toMatch(/the file is 524289 bytes; a config may be at most 524288 bytes/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('property: any text', () => {
  it('parseConfig never throws and reports at most 21 short problems, whatever the text', () => {
    const pieces = [
      'a',
      ':',
      ' ',
      '\n',
      '- ',
      '[',
      ']',
      '{',
      '}',
      ',',
      '&x ',
      '*x',
      '"',
      "'",
      '#',
      '!!',
      '|',
      '>',
      '? ',
      '---\n',
      'domain',
      'registries',
      'upstream',
      '0123',
      '1e15',
      '~',
    ];
    const yamlish = fc.array(fc.constantFrom(...pieces), { maxLength: 400 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(yamlish, fc.string({ unit: 'binary', maxLength: 2000 }), fc.string({ unit: 'grapheme', maxLength: 500 })), (text) => {
        const r = parse(text);
        if (r.ok) return;
        expect(r.problems.length).toBeGreaterThan(0);
        expect(r.problems.length).toBeLessThanOrEqual(MAX_PROBLEMS + 1);
        for (const p of r.problems) {
          expect(p.path.length).toBeLessThanOrEqual(120);
          expect(p.message.length).toBeLessThanOrEqual(300);
          // eslint-disable-next-line no-control-regex
          expect(`${p.path}${p.message}`).not.toMatch(/[\u0000-\u001f]/);
        }
      }),
      { numRuns: 500 },
    );
  });
});
