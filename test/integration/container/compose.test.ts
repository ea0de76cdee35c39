// The shipped compose/docker-compose.yml, run by Debian's docker-compose (1.29): `up -d` serves pulls on
// the published port, `down` then `up` keeps the volume and with it the cache. The only addition is a
// second compose file with the test's upstream registry as a service on the project's network; the
// regcache service is the shipped one, with the variables .env.example documents.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../helpers/binaries.js';
import { docker, ensureRegistryImage } from '../../helpers/registry-image.js';
import { ensureRegcacheImage } from './images.js';
import { composeContainerOf, composeWithUpstream, containerState, createContainerFixture, type ContainerFixture } from './fixture.js';

describe('docker-compose up/down with compose/docker-compose.yml', () => {
  let fx: ContainerFixture;
  let project: string;
  let compose: (args: string[]) => Promise<string>;

  const containerOf = composeContainerOf(
    (args) => compose(args),
    () => project,
  );

  beforeAll(async () => {
    const bin = requireBinary(['docker-compose']);
    const image = await ensureRegcacheImage();
    await ensureRegistryImage();
    fx = await createContainerFixture('compose', { network: 'bridge' });
    project = `regcache-it-${fx.id}`;
    compose = await composeWithUpstream(fx, { bin, project, file: 'compose/docker-compose.yml', image });
    await compose(['up', '-d', '--no-build']);
  }, 900_000);

  afterAll(async () => {
    if (compose) await compose(['down', '-v', '--remove-orphans']).catch(() => undefined);
    await fx?.cleanup();
  });

  it('up -d: serves pulls through the published port, as the unprivileged user', async () => {
    await fx.waitReady();
    expect(await fx.pull()).toBe(fx.image.manifestDigest);
    const blobs = await fx.upstreamBlobGets();
    expect(blobs.sort()).toEqual([fx.image.config, ...fx.image.layers].map((b) => `/v2/team/app/blobs/${b.digest}`).sort());
    expect((await containerState(await containerOf('regcache'))).user).toBe('regcache');
  });

  it('down then up keeps the volume and the cache: the second pull makes no upstream blob GET', async () => {
    const volume = `${project.replace(/[^a-z0-9_-]/g, '')}_data`;
    await compose(['down']);
    expect((await compose(['ps', '-q'])).trim()).toBe('');
    expect((await docker(['volume', 'inspect', '--format', '{{.Name}}', volume])).trim()).toBe(volume);
    await compose(['up', '-d', '--no-build']);
    await fx.waitReady();
    await fx.forgetUpstreamRequests();
    expect(await fx.pull()).toBe(fx.image.manifestDigest);
    expect(await fx.upstreamBlobGets()).toEqual([]);
  });
});
