// Property with the real nginx binary: any generated config either fails validation with field
// paths, or renders a config that `nginx -t` accepts, with no injected structure (see the unit property).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processNginxPaths } from '../../../src/apply/nginx/process-nginx.js';
import { nginxView } from '../../../src/apply/nginx/nginx-view.js';
import { egressPlan, mirrorPortKeys } from '../../../src/desired/egress-routes.js';
import { egressNginxView } from '../../../src/apply/egress/egress-view.js';
import { detectAcceptSupport } from '../../../src/apply/nginx/nginx-features.js';
import { packageRoot } from '../../../src/util/package-root.js';
import { createEgressNginxRenderer, createNginxRenderer, readNginxTemplates } from '../../../src/apply/nginx/render.js';
import { readSmallFile } from '../../../src/config/load.js';
import { parseConfig } from '../../../src/config/parse.js';
import { requireBinary } from '../../helpers/binaries.js';
import { makeCa, makeLeaf } from '../../helpers/certs.js';
import { configArbitrary } from '../../helpers/config-arbitrary.js';
import { bcryptEntry } from '../../helpers/htpasswd.js';
import { nginxCheck } from '../../helpers/nginx-check.js';

describe('config → nginx -t (real nginx)', () => {
  let dir: string;
  let files: { cert: string; key: string; ca: string; htpasswd: string };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-nginx-property-'));
    const ca = await makeCa(dir);
    const leaf = await makeLeaf(dir, ca, 'server', ['*.registry.test', '127.0.0.1']);
    files = { cert: leaf.cert, key: leaf.key, ca: ca.cert, htpasswd: path.join(dir, 'htpasswd') };
    await writeFile(files.htpasswd, await bcryptEntry('alice', 'pw-alice-1'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('every config that validates passes nginx -t', async () => {
    const nginx = requireBinary(['nginx'], 'REGCACHE_NGINX_BIN');
    const render = createNginxRenderer(readNginxTemplates());
    const renderEgress = createEgressNginxRenderer(readNginxTemplates());
    // What this nginx offers for whole Accept headers (the njs module where .ci/setup installed it).
    const accept = await detectAcceptSupport(nginx, path.join(packageRoot(), 'nginx', 'accept.js'));
    let tested = 0;
    await fc.assert(
      fc.asyncProperty(configArbitrary(files), async (doc) => {
        const source = path.join(dir, 'registries.yaml');
        const result = parseConfig(stringify(doc), { source, env: {}, readFile: readSmallFile });
        if (!result.ok) {
          for (const p of result.problems) expect(p.path).not.toBe('');
          return;
        }
        tested++;
        const config = result.value;
        const prefix = path.join(dir, `run-${tested}`);
        for (const sub of ['logs', 'temp', 'cache']) await mkdir(path.join(prefix, sub), { recursive: true });
        const text = render(
          nginxView({
            config,
            backends: new Map(config.registries.map((r, i) => [r.name, `127.0.0.1:${21000 + i}`])),
            generation: tested,
            accept,
            paths: processNginxPaths(prefix, ''),
          }),
        );
        // The egress nginx's config too, with every registry's egress on.
        const egressView = egressNginxView({
          config,
          plan: egressPlan({
            config,
            ports: new Map(config.registries.flatMap((r) => [r.name, ...mirrorPortKeys(r)]).map((key, i) => [key, 23000 + i])),
            system: { resolvers: ['127.0.0.53'], caFile: '/etc/ssl/certs/ca-certificates.crt' },
            loopback: true,
          }),
          generation: tested,
          controlPort: 22999,
          paths: {
            pid: path.join(prefix, 'egress.pid'),
            errorLog: path.join(prefix, 'logs/error.log'),
            accessLog: path.join(prefix, 'logs/egress.log'),
            temp: path.join(prefix, 'temp'),
            cache: path.join(prefix, 'cache'),
          },
        });
        const files: Array<[string, string]> = [['nginx.conf', text]];
        if (egressView) files.push(['egress-nginx.conf', renderEgress(egressView)]);
        for (const [name, content] of files) {
          const file = path.join(prefix, name);
          await writeFile(file, content);
          const rejected = await nginxCheck(file, prefix);
          if (rejected !== null) throw new Error(`nginx -t rejected a validated config (${name}):\n${stringify(doc)}\n${rejected}`);
        }
      }),
      // No shrinking: each step is a real nginx -t, and a shrink run outlasts the test timeout, hiding the counterexample.
      { numRuns: 120, endOnFailure: true },
    );
    expect(tested).toBeGreaterThanOrEqual(4);
  });
});
