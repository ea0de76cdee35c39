import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nginxView } from '../../../src/apply/nginx/nginx-view.js';
import { createNginxRenderer, readNginxTemplates } from '../../../src/apply/nginx/render.js';
import { parseConfig } from '../../../src/config/parse.js';

const render = createNginxRenderer(readNginxTemplates());
const paths = { pid: '/d/nginx/nginx.pid', errorLog: '/d/nginx/logs/error.log', accessLog: '/d/nginx/logs/access.log', temp: '/d/nginx/temp' };
const goldenDir = path.join(path.dirname(new URL(import.meta.url).pathname), 'golden');

function config(text: string) {
  const r = parseConfig(text, { source: '/d/registries.yaml', env: {} });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

/** Golden files hold the whole expected output; REGCACHE_UPDATE_GOLDEN=1 rewrites them after a reviewed change. */
function expectGolden(name: string, actual: string) {
  const file = path.join(goldenDir, name);
  if (process.env.REGCACHE_UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const twoRegistries = config(`
domain: registry.example.com
listen: "127.0.0.1:5000"
registries:
  docker.io:
    upstream: https://registry-1.docker.io
    aliases: [hub.example.com]
  ghcr.io:
    upstream: https://ghcr.io
`);

describe('nginx render', () => {
  it('renders the map and upstream blocks for every routed registry (golden)', () => {
    const backends = new Map([
      ['docker.io', '127.0.0.1:41001'],
      ['ghcr.io', '127.0.0.1:41002'],
    ]);
    expectGolden('two-registries.conf', render(nginxView({ config: twoRegistries, backends, paths, generation: 7 })));
  });

  it('leaves out registries that have no backend yet', () => {
    const out = render(nginxView({ config: twoRegistries, backends: new Map([['ghcr.io', '127.0.0.1:41002']]), paths, generation: 1 }));
    expect(out).not.toContain('cache_docker_io');
    expect(out).not.toContain('hub.example.com');
    expect(out).toContain('"ghcr.io.registry.example.com" cache_ghcr_io;');
  });

  it('is a pure function: same view, same bytes', () => {
    const view = nginxView({ config: twoRegistries, backends: new Map([['ghcr.io', '127.0.0.1:1']]), paths, generation: 3 });
    expect(render(view)).toBe(render(view));
  });
});
