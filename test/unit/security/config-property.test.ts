// Property: any config either fails validation with field paths, or renders nginx config whose
// structure (directives, arguments, blocks) and variable references are exactly those of the same
// config with every value replaced by a harmless placeholder, i.e. no input injected anything.
import path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { processNginxPaths } from '../../../src/apply/nginx/process-nginx.js';
import { nginxView, type NginxView } from '../../../src/apply/nginx/nginx-view.js';
import { createNginxRenderer, readNginxTemplates } from '../../../src/apply/nginx/render.js';
import type { ReadConfigFile } from '../../../src/config/config-files.js';
import { parseConfig } from '../../../src/config/parse.js';
import { configArbitrary, passwordsOf, tally } from '../../helpers/config-arbitrary.js';
import { parseNginx, skeleton, variablesUsed } from '../../helpers/nginx-tokens.js';

const files = { cert: '/certs/cert.pem', key: '/certs/key.pem', ca: '/certs/ca.pem', htpasswd: '/auth/htpasswd' };
const contents: Record<string, string> = {
  [files.cert]: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  [files.ca]: '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n',
  [files.key]: '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n',
  [files.htpasswd]: `alice:$2y$05$${'b'.repeat(53)}\n`,
};
const readFile: ReadConfigFile = (p) => (p in contents ? { ok: true, text: contents[p]! } : { ok: false, message: 'file not found' });
const render = createNginxRenderer(readNginxTemplates());
const TOP_LEVEL = new Set(['domain', 'listen', 'admin', 'runtime', 'dataDir', 'nginx', 'docker', 'cache', 'egress', 'tls', 'access', 'registries']);

export function viewFor(config: Parameters<typeof nginxView>[0]['config']): NginxView {
  const prefix = path.join(config.dataDir, 'nginx');
  return nginxView({
    config,
    backends: new Map(config.registries.map((r, i) => [r.name, `127.0.0.1:${20000 + i}`])),
    generation: 7,
    paths: processNginxPaths(prefix, ''),
  });
}

/** Same shape, every non-empty string replaced by a token that cannot change nginx syntax. */
function placeholders<T>(value: T): T {
  let n = 0;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v === '' ? '' : `p${n++}`;
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

describe('config → nginx: nothing injectable', () => {
  it('fails with field paths, or renders exactly the expected directives', () => {
    let rendered = 0;
    const rejectedAt = new Map<string, number>();
    fc.assert(
      fc.property(configArbitrary(files), (doc) => {
        const result = parseConfig(stringify(doc), { source: '/etc/regcache/registries.yaml', env: {}, readFile });
        if (!result.ok) {
          tally(
            rejectedAt,
            result.problems.map((p) => p.path.split('.')[0]!),
          );
          expect(result.problems.length).toBeGreaterThan(0);
          for (const p of result.problems) expect(TOP_LEVEL.has(p.path.split('.')[0]!), `${p.path}: ${p.message}`).toBe(true);
          for (const secret of passwordsOf(doc)) expect(JSON.stringify(result.problems)).not.toContain(secret);
          return;
        }
        rendered++;
        const view = viewFor(result.value);
        const text = render(view);
        const expected = render(placeholders(view));
        expect(skeleton(parseNginx(text))).toEqual(skeleton(parseNginx(expected)));
        expect(variablesUsed(text)).toEqual(variablesUsed(expected));
        for (const secret of passwordsOf(doc)) expect(text).not.toContain(secret);
        if (result.value.admin.token) expect(text).not.toContain(result.value.admin.token);
      }),
      { numRuns: 800, seed: Number(process.env.FC_SEED ?? Date.now() % 100000) },
    );
    // The generator must reach the interesting branch, not only rejections.
    expect(rendered, `rejections by path: ${JSON.stringify([...rejectedAt])}`).toBeGreaterThan(20);
  });

  it('the structural check catches an injection when one gets through (the check can fail)', () => {
    const result = parseConfig(stringify({ domain: 'registry.test', registries: { 'docker.io': { upstream: 'https://r.test' } } }), {
      source: '/etc/regcache/registries.yaml',
      env: {},
      readFile,
    });
    if (!result.ok) throw new Error('fixture invalid');
    const view = viewFor(result.value);
    const poisoned = { ...view, hosts: view.hosts.map((h) => ({ ...h, host: `${h.host}" x; include "/etc/passwd` })) };
    expect(skeleton(parseNginx(render(poisoned)))).not.toEqual(skeleton(parseNginx(render(placeholders(poisoned)))));
  });
});
