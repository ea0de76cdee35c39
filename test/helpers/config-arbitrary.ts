// fast-check generators for registries.yaml documents: mostly-valid values with hostile strings
// (nginx metacharacters, quotes, newlines, $variables, unicode) mixed into every string field.
import fc from 'fast-check';

export interface ConfigFilesForArbitrary {
  cert: string;
  key: string;
  ca: string;
  htpasswd: string;
}

const INJECTIONS = [
  ';',
  '{',
  '}',
  '"',
  "'",
  '\n',
  '\r\n',
  '\t',
  ' ',
  '$host',
  '${host}',
  '#',
  '\\',
  '\0',
  'é',
  '🚀',
  ';\ninclude /etc/passwd;',
  '} server { listen 1;',
  '"; deny all; "',
];

export const injection = fc.constantFrom(...INJECTIONS);

/** A valid value, or the same value with an injection somewhere, or arbitrary unicode. */
export function hostile(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 40, arbitrary: valid },
    { weight: 2, arbitrary: fc.tuple(valid, injection, fc.boolean()).map(([v, inj, front]) => (front ? inj + v : v + inj)) },
    { weight: 1, arbitrary: fc.tuple(valid, injection, valid).map(([a, inj, b]) => a + inj + b) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  );
}

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
export const dnsName = fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join('.'));
const port = fc.integer({ min: 1024, max: 65000 });
const ipv4 = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
  .map((p) => p.join('.'));
const loopback = fc.integer({ min: 1, max: 254 }).map((n) => `127.0.0.${n}`);
const listenValue = fc.oneof(
  port.map(String),
  fc.tuple(loopback, port).map(([h, p]) => `${h}:${p}`),
);
const cidr = fc.oneof(
  ipv4,
  fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([ip, n]) => `${ip}/${n}`),
  fc.constantFrom('::1', '2001:db8::/32', 'fe80::/10'),
);
const urlPath = fc.array(fc.stringMatching(/^[A-Za-z0-9._~-]{1,8}$/), { maxLength: 3 }).map((s) => '/' + s.join('/'));
// IP hosts only: nginx resolves upstream host names when it loads the config (see docs/security.md).
const authUrl = fc.tuple(fc.constantFrom('http', 'https'), loopback, port, urlPath).map(([s, h, p, path]) => `${s}://${h}:${p}${path}`);
const upstream = fc
  .tuple(fc.constantFrom('http', 'https'), fc.oneof(dnsName, loopback), fc.option(port, { nil: undefined }))
  .map(([s, h, p]) => `${s}://${h}${p ? `:${p}` : ''}`);
const realm = fc.stringMatching(/^[A-Za-z0-9 ._-]{1,16}$/);
const secret = fc.stringMatching(/^[A-Za-z0-9!@%^&*()_+=-]{12,24}$/).map((s) => `S3cr3t-${s}`);

export function configArbitrary(files: ConfigFilesForArbitrary) {
  const path = (p: string) => hostile(fc.constant(p));
  const access = fc.record(
    {
      htpasswd: fc.oneof(path(files.htpasswd), fc.constant(null)),
      realm: hostile(realm),
      allow: fc.oneof(fc.array(hostile(cidr), { maxLength: 3 }), fc.constant(null)),
      authRequest: fc.oneof(hostile(authUrl), fc.constant(null)),
    },
    { requiredKeys: [] },
  );
  const registry = fc
    .record(
      {
        // One URL or, less often, a list of mirrors (duplicates and lists without egress are refused; every
        // hostile item can reject the whole config, so lists are weighted down to keep valid configs common).
        upstream: fc.oneof(
          { arbitrary: hostile(upstream), weight: 4 },
          { arbitrary: fc.array(hostile(upstream), { minLength: 1, maxLength: 3 }), weight: 1 },
        ),
        username: fc.option(hostile(label), { nil: undefined }),
        password: secret,
        aliases: fc.array(hostile(dnsName), { maxLength: 2 }),
        access: fc.option(access, { nil: undefined }),
        tls: fc.option(fc.record({ cert: path(files.cert), key: path(files.key) }), { nil: undefined }),
        egress: fc.boolean(),
      },
      { requiredKeys: ['upstream'] },
    )
    .map(({ username, password, ...rest }) => (username ? { ...rest, username, password } : rest));
  return fc.record(
    {
      domain: hostile(dnsName),
      listen: hostile(listenValue),
      admin: fc.record(
        { listen: hostile(listenValue), token: fc.option(hostile(secret), { nil: undefined }), metricsPublic: fc.boolean() },
        { requiredKeys: [] },
      ),
      dataDir: hostile(fc.constantFrom('./data', 'state/regcache')),
      tls: fc.option(
        fc.record(
          {
            listen: hostile(listenValue),
            cert: path(files.cert),
            key: path(files.key),
            clientCA: fc.option(path(files.ca), { nil: undefined }),
            httpDisabled: fc.boolean(),
          },
          { requiredKeys: ['cert', 'key'] },
        ),
        { nil: undefined },
      ),
      access: fc.option(access, { nil: undefined }),
      egress: fc.option(
        fc.record(
          {
            enabled: fc.boolean(),
            resolver: fc.array(hostile(fc.oneof(ipv4, fc.constantFrom('::1', '2001:db8::53'))), { minLength: 1, maxLength: 2 }),
            caFile: path(files.ca),
          },
          { requiredKeys: [] },
        ),
        { nil: undefined },
      ),
      registries: fc.dictionary(hostile(dnsName), registry, { minKeys: 1, maxKeys: 3 }),
    },
    { requiredKeys: ['domain', 'registries'] },
  );
}

/** Passwords that appear in a generated document, to prove they never reach rendered output. */
export function passwordsOf(doc: { registries: Record<string, { upstream?: unknown; password?: string }> }): string[] {
  return Object.values(doc.registries).flatMap((r) => (r.password ? [r.password] : []));
}

/** Counts problem paths, to see what the generator mostly trips on. */
export function tally(map: Map<string, number>, keys: string[]): void {
  for (const k of keys) map.set(k, (map.get(k) ?? 0) + 1);
}
