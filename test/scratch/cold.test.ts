import { writeFileSync } from 'node:fs';
import { it } from 'vitest';
import { generateImage } from '../helpers/image.js';
import { startRegcache } from '../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry } from '../helpers/upstream-registry.js';

it(
  'cold path env',
  async () => {
    const upstream = await startUpstreamRegistry();
    const imgs = Array.from({ length: 40 }, (_, i) => generateImage({ seed: `cold${i}-${Date.now()}`, layers: [64 * 1024 * 1024] }));
    await seedUpstream(
      upstream,
      imgs.map((image, i) => ({ repository: 'bench/app', tag: `t${i}`, image })),
    );
    const rc = await startRegcache({ registries: { 'docker.io': { upstream: upstream.url } } });
    writeFileSync(
      '/tmp/cold-env.json',
      JSON.stringify({ upstream: upstream.url, router: rc.routerUrl, dir: rc.dir, blobs: imgs.map((i) => i.layers[0]!.digest) }),
    );
    await new Promise((r) => setTimeout(r, 40 * 60_000));
    await rc.stop();
    await upstream.stop();
  },
  45 * 60_000,
);
