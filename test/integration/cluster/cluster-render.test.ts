// Rendered cluster configs pass the real nginx's -t: single node with TLS and access rules, a
// three-peer ring, IPv6 peers.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterMembership } from '../../../src/cluster/membership.js';
import { nginxView } from '../../../src/apply/nginx/nginx-view.js';
import { processNginxPaths } from '../../../src/apply/nginx/process-nginx.js';
import { createNginxRenderer, readNginxTemplates } from '../../../src/apply/nginx/render.js';
import { readSmallFile } from '../../../src/config/load.js';
import { parseConfig } from '../../../src/config/parse.js';
import { makeCa, makeLeaf } from '../../helpers/certs.js';
import { bcryptEntry } from '../../helpers/htpasswd.js';
import { nginxCheck } from '../../helpers/nginx-check.js';

const SECRET = 'cluster-secret-0123456789abcdef';

describe('cluster config → nginx -t (real nginx)', () => {
  let dir: string;
  let tls: { cert: string; key: string };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-cluster-render-'));
    const ca = await makeCa(dir);
    tls = await makeLeaf(dir, ca, 'server', ['*.registry.test']);
    await writeFile(path.join(dir, 'htpasswd'), await bcryptEntry('alice', 'pw-alice-1'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const cases: Array<[string, string, string[]]> = [
    ['three IPv4 peers', 'peers: [127.0.0.11:15001, 127.0.0.12:15001, 127.0.0.13:15001]\n  self: 127.0.0.12:15001', []],
    ['IPv6 peers', 'listen: "[::1]:15001"\n  peers: ["[::1]:15001", "[fd00::2]:15001"]\n  self: "[::1]:15001"', []],
    ['a lone peer, TLS and access rules', 'peers: [127.0.0.11:15001]\n  self: 127.0.0.11:15001', ['tls', 'access']],
  ];
  for (const [name, peers, extras] of cases) {
    it(`accepts ${name}`, async () => {
      const listen = peers.startsWith('listen:') ? '' : 'listen: 127.0.0.1:15001\n  ';
      const text = [
        'domain: registry.test',
        'listen: 127.0.0.1:15000',
        extras.includes('tls') ? `tls:\n  listen: 127.0.0.1:15443\n  cert: ${tls.cert}\n  key: ${tls.key}` : '',
        extras.includes('access') ? `access:\n  htpasswd: ${path.join(dir, 'htpasswd')}\n  allow: [127.0.0.0/8]` : '',
        `cluster:\n  ${listen}${peers}\n  secret: ${SECRET}`,
        'registries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n    repositories:\n      deny: [evil/*]',
      ]
        .filter(Boolean)
        .join('\n');
      const parsed = parseConfig(text, { source: path.join(dir, 'registries.yaml'), env: {}, readFile: readSmallFile });
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
      const config = parsed.value;
      const membership = clusterMembership({ cluster: config.cluster!, resolved: null, ownAddresses: [] });
      if (!membership.ok) throw new Error(JSON.stringify(membership.problems));
      const prefix = path.join(dir, name.replace(/\W+/g, '-'));
      for (const sub of ['logs', 'temp', 'cache']) await mkdir(path.join(prefix, sub), { recursive: true });
      const rendered = createNginxRenderer(readNginxTemplates())(
        nginxView({
          config,
          backends: new Map([['docker.io', '127.0.0.1:21000']]),
          generation: 1,
          paths: processNginxPaths(prefix, ''),
          cluster: { config: config.cluster!, membership: membership.value },
        }),
      );
      expect(rendered).toContain('upstream regcache_ring {');
      for (const peer of membership.value.members) expect(rendered).toContain(`server ${peer} max_fails=2`);
      const file = path.join(prefix, 'nginx.conf');
      await writeFile(file, rendered);
      const result = await nginxCheck(file, prefix);
      expect(result).toBeNull();
    });
  }
});
