import { describe, expect, it } from 'vitest';
import type { ReadConfigFile } from '../../../src/config/config-files.js';
import { parseConfig } from '../../../src/config/parse.js';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
const BCRYPT = 'alice:$2y$05$' + 'a'.repeat(53) + '\n';

function reader(files: Record<string, string>): ReadConfigFile {
  return (p) => (p in files ? { ok: true, text: files[p]! } : { ok: false, message: 'file not found' });
}

const parse = (text: string, files: Record<string, string> = {}, env: Record<string, string> = {}) =>
  parseConfig(text, { source: '/etc/regcache/registries.yaml', env, readFile: reader(files) });

const base = (extra = '', registryExtra = '') => `
domain: registry.example.com
${extra}
registries:
  docker.io:
    upstream: https://registry-1.docker.io
${registryExtra}
`;

const paths = (r: ReturnType<typeof parse>) => (r.ok ? [] : r.problems.map((p) => p.path));
const messages = (r: ReturnType<typeof parse>) => (r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`));

describe('tls section', () => {
  it('reads cert and key relative to the config and fingerprints their contents', () => {
    const files = { '/etc/regcache/tls/cert.pem': CERT, '/etc/regcache/tls/key.pem': KEY };
    const r = parse(base('tls: {cert: tls/cert.pem, key: tls/key.pem}'), files);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.tls).toMatchObject({
      listen: { host: '0.0.0.0', port: 5443 },
      cert: '/etc/regcache/tls/cert.pem',
      clientCA: null,
      httpDisabled: false,
    });
    expect(r.value.referencedFiles).toEqual(['/etc/regcache/tls/cert.pem', '/etc/regcache/tls/key.pem']);
    const renewed = parse(base('tls: {cert: tls/cert.pem, key: tls/key.pem}'), { ...files, '/etc/regcache/tls/cert.pem': CERT + '\n' });
    expect(renewed.ok && renewed.value.tls!.material).not.toBe(r.value.tls!.material);
  });

  it('names missing files, non-PEM contents and unsafe paths', () => {
    expect(messages(parse(base('tls: {cert: /nope.pem, key: /k.pem}'), { '/k.pem': 'junk' }))).toEqual([
      'tls.cert: cannot read /nope.pem: file not found',
      'tls.key: /k.pem holds no PEM private key',
    ]);
    expect(paths(parse(base('tls: {cert: "/a;b.pem", key: "/k{.pem", clientCA: "/$x"}')))).toEqual(['tls.cert', 'tls.key', 'tls.clientCA']);
    expect(paths(parse(base('tls: {cert: "/c\\nssl_verify_client off", key: /k.pem}')))).toContain('tls.cert');
  });

  it('refuses the http port for https and a registry certificate without the global listener', () => {
    const files = { '/c.pem': CERT, '/k.pem': KEY };
    expect(messages(parse(base('listen: "5000"\ntls: {listen: "5000", cert: /c.pem, key: /k.pem}'), files))).toEqual([
      'tls.listen: port 5000 is already the http listen port',
    ]);
    expect(paths(parse(base('', '    tls: {cert: /c.pem, key: /k.pem}'), files))).toEqual(['registries.docker.io.tls']);
  });
});

describe('access section', () => {
  it('accepts bcrypt htpasswd, CIDRs and an authenticator URL; registry keys override global ones', () => {
    const r = parse(
      base(
        'access: {htpasswd: /etc/regcache/htpasswd, allow: [10.0.0.0/8, 192.168.1.7, "2001:DB8::/32"]}',
        '    access: {htpasswd: null, authRequest: "http://oauth2-proxy.internal:4180/oauth2/auth"}',
      ),
      { '/etc/regcache/htpasswd': `# team\n${BCRYPT}` },
    );
    expect(messages(r)).toEqual([]);
    if (!r.ok) return;
    expect(r.value.access).toEqual({
      htpasswd: { path: '/etc/regcache/htpasswd', users: 1 },
      realm: 'regcache',
      allow: ['10.0.0.0/8', '192.168.1.7/32', '2001:db8::/32'],
      authRequest: null,
    });
    expect(r.value.registries[0]!.access).toEqual({ htpasswd: null, authRequest: 'http://oauth2-proxy.internal:4180/oauth2/auth' });
  });

  it('refuses non-bcrypt entries, bad CIDRs, bad URLs and odd realms with field paths', () => {
    const r = parse(
      base(
        'access: {htpasswd: /h, allow: ["10.0.0.0/33", "10.0.0.0/8; deny all", "example.com"], realm: "a\\"b", authRequest: "http://x/a b"}',
        '    access: {authRequest: "ftp://x/auth", allow: ["::1/129"]}',
      ),
      { '/h': 'alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n' },
    );
    expect(paths(r).sort()).toEqual(
      [
        'access.allow.0',
        'access.allow.1',
        'access.allow.2',
        'access.authRequest',
        'access.realm',
        'registries.docker.io.access.allow.0',
        'registries.docker.io.access.authRequest',
      ].sort(),
    );
    const onlyHtpasswd = parse(base('access: {htpasswd: /h}'), { '/h': 'alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n' });
    expect(messages(onlyHtpasswd)[0]).toMatch(/^access\.htpasswd: \/h entry 1 is not "user:<bcrypt hash>"/);
  });
});

describe('secrets and admin token', () => {
  it('reads passwordFile, dropping one trailing newline', () => {
    const r = parse(base('', '    username: bot\n    passwordFile: secrets/hub'), { '/etc/regcache/secrets/hub': 's3cret pass\n' });
    expect(r.ok && r.value.registries[0]!.credentials).toEqual({ username: 'bot', password: 's3cret pass' });
  });

  it('refuses password with passwordFile, an empty or missing file, and never echoes the secret', () => {
    const both = parse(base('', '    username: bot\n    password: hunter2-secret\n    passwordFile: /p'), { '/p': 'x' });
    expect(messages(both)).toEqual(['registries.docker.io.passwordFile: set password or passwordFile, not both']);
    expect(messages(parse(base('', '    username: bot\n    passwordFile: /p'), { '/p': '\n' }))).toEqual([
      'registries.docker.io.passwordFile: /p is empty',
    ]);
    expect(paths(parse(base('', '    username: bot\n    passwordFile: /missing')))).toEqual(['registries.docker.io.passwordFile']);
    expect(JSON.stringify(both)).not.toContain('hunter2-secret');
  });

  it('takes admin.token, else REGCACHE_ADMIN_TOKEN; short tokens are refused', () => {
    const fromFile = parse(base('admin: {token: "0123456789abcdef-file", metricsPublic: true}'));
    expect(fromFile.ok && fromFile.value.admin).toMatchObject({ token: '0123456789abcdef-file', metricsPublic: true });
    const fromEnv = parse(base(), {}, { REGCACHE_ADMIN_TOKEN: '0123456789abcdef-env' });
    expect(fromEnv.ok && fromEnv.value.admin.token).toBe('0123456789abcdef-env');
    expect(parse(base()).ok && (parse(base()) as { value: { admin: { token: unknown } } }).value.admin.token).toBeNull();
    expect(paths(parse(base('admin: {token: short}')))).toEqual(['admin.token']);
    expect(paths(parse(base(), {}, { REGCACHE_ADMIN_TOKEN: 'short' }))).toEqual(['admin.token']);
  });
});

describe('generated client configs with tls', () => {
  it('switch to https and the TLS port', async () => {
    const { endpointBaseFromConfig } = await import('../../../src/clients/endpoint.js');
    const files = { '/c.pem': CERT, '/k.pem': KEY };
    const r = parse(base('listen: "5000"\ntls: {listen: "5443", cert: /c.pem, key: /k.pem}'), files);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(endpointBaseFromConfig(r.value)).toEqual({ scheme: 'https', host: 'registry.example.com', port: 5443 });
    const plain = parse(base('listen: "5000"'));
    if (!plain.ok) throw new Error('fixture');
    expect(endpointBaseFromConfig(plain.value)).toEqual({ scheme: 'http', host: 'registry.example.com', port: 5000 });
  });
});

describe('generated client configs with access rules', () => {
  it('warn where a mirror needs a password, and carry none', async () => {
    const { generateClientConfig } = await import('../../../src/clients/generate.js');
    const { endpointBaseFromConfig } = await import('../../../src/clients/endpoint.js');
    const r = parse(base('access: {htpasswd: /h, allow: [10.0.0.0/8]}'), { '/h': BCRYPT });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const out = generateClientConfig('k3s', r.value, {
      mode: 'vhost',
      base: endpointBaseFromConfig(r.value),
      tls: { caFile: null, skipVerify: false },
    });
    expect(out.warnings.join('\n')).toContain('configs."docker.io.registry.example.com:5000".auth');
    expect(out.warnings.join('\n')).toContain('only clients from 10.0.0.0/8');
    expect(out.files[0]!.content).not.toContain('$2y$');
  });
});

describe('caches that fetch directly (egress off)', () => {
  const warnings = (text: string) => {
    const r = parse(text);
    expect(r.ok ? [] : r.problems).toEqual([]);
    return r.ok ? r.value.warnings.map((w) => w.path) : [];
  };
  const many = (n: number, extra = '') =>
    `domain: registry.example.com\n${extra}registries:\n` +
    Array.from({ length: n }, (_, i) => `  r${i}.example:\n    upstream: https://r${i}.example\n`).join('');

  it('names each registry switched off, since its redirects go unchecked', () => {
    expect(warnings(base())).toEqual([]);
    expect(warnings(base('', '    egress: false'))).toEqual(['registries.docker.io.egress']);
    const r = parse(base('', '    egress: false'));
    expect(r.ok && r.value.warnings[0]!.message).toMatch(/^docker\.io fetches from its upstream directly: distribution follows any redirect/);
  });

  it('gives one warning for the registries following egress.enabled: false, naming the first three', () => {
    expect(warnings(many(2, 'egress:\n  enabled: false\n'))).toEqual(['egress.enabled']);
    const r = parse(many(5, 'egress:\n  enabled: false\n'));
    expect(r.ok && r.value.warnings[0]!.message).toMatch(/^r0\.example, r1\.example, r2\.example and 2 more fetch from their upstreams directly/);
    // A registry that turns egress back on is not named.
    expect(warnings(base('egress:\n  enabled: false\n', '    egress: true'))).toEqual([]);
  });
});
