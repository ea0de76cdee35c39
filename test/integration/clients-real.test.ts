// The generated client configuration, used by the real clients: containerd/ctr (the resolver and
// hosts.toml handling behind the CRI plugin of k3s/k3d), skopeo and a private dockerd, against the
// real regcache daemon (nginx + registry processes) in front of local upstream registries.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli } from '../../src/cli/run-cli.js';
import { parseClientOptions } from '../../src/clients/client-request.js';
import { generateClientConfig } from '../../src/clients/generate.js';
import { parseConfig } from '../../src/config/parse.js';
import { requireBinary } from '../helpers/binaries.js';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { generateImage, type TestImage } from '../helpers/image.js';
import { createPrivateHosts, type PrivateHosts } from '../helpers/private-hosts.js';
import { startPrivateDockerd, type PrivateDockerd } from '../helpers/private-dockerd.js';
import { readAccessLog, type AccessLogEntry } from '../helpers/access-log.js';
import { startRegcache, type RunningRegcache } from '../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const run = promisify(execFile);
const DOMAIN = 'regcache.test';
/** Registries regcache caches; `gamma.test` exists upstream but regcache does not cache it. */
const CACHED = ['docker.io', 'alpha.test', 'beta.test'] as const;
type Cached = (typeof CACHED)[number];

/** Repository names per registry and purpose; docker.io images live under library/. */
function repo(registry: string, purpose: string): string {
  return registry === 'docker.io' ? `library/${purpose}-app` : `${purpose}/app`;
}

interface Seeded {
  repository: string;
  image: TestImage;
}

describe('generated client configs with the real clients', () => {
  const upstreams = new Map<string, UpstreamRegistry>();
  const seeded = new Map<string, Seeded>(); // key: `${registry} ${purpose}`
  let regcache: RunningRegcache;
  let containerd: Containerd;
  let hosts: PrivateHosts;
  let scratch: string;
  let vhostDir: string;
  let singleDir: string;

  const image = (registry: string, purpose: string) => seeded.get(`${registry} ${purpose}`)!;
  const api = async (path: string) => {
    const res = await fetch(`${regcache.adminUrl}/api/v1${path}`);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return res;
  };
  const pull = (namespace: string, hostsDir: string, ref: string) =>
    containerd.ctr(['--namespace', namespace, 'images', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, ref], hosts);
  const routed = (log: AccessLogEntry[], host: string, pathPrefix: string) =>
    log.filter((e) => e.host === host && e.method === 'GET' && e.status === 200 && e.uri.startsWith(pathPrefix));

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'regcache-clients-it-'));
    for (const registry of [...CACHED, 'gamma.test']) {
      const upstream = await startUpstreamRegistry();
      upstreams.set(registry, upstream);
      const images = ['vhost', 'single', 'skopeo', 'docker'].map((purpose) => {
        const entry = {
          repository: repo(registry, purpose),
          image: generateImage({ seed: `clients-${registry}-${purpose}`, layers: [2048, 70_000] }),
        };
        seeded.set(`${registry} ${purpose}`, entry);
        return { repository: entry.repository, tag: 'v1', image: entry.image };
      });
      await seedUpstream(upstream, images);
    }
    regcache = await startRegcache({ domain: DOMAIN, registries: Object.fromEntries(CACHED.map((r) => [r, { upstream: upstreams.get(r)!.url }])) });
    containerd = await startContainerd();
    hosts = await createPrivateHosts(scratch, [...[...CACHED, 'gamma.test'].map((r) => `${r}.${DOMAIN}`), DOMAIN]);

    // vhost files from the admin API, single files from the CLI: both paths are the product.
    vhostDir = join(scratch, 'certs.d-vhost');
    const vhost = await (await api('/clients/containerd')).json();
    for (const file of vhost.files as Array<{ path: string; content: string }>) {
      await mkdir(dirname(join(vhostDir, file.path)), { recursive: true });
      await writeFile(join(vhostDir, file.path), file.content);
    }
    singleDir = join(scratch, 'certs.d-single');
    const devNull = new Writable({ write: (_c, _e, done) => done() });
    const code = await runCli(['clients', 'containerd', '--config', regcache.configFile, '--mode', 'single', '--out', singleDir], {
      env: {},
      stdout: devNull,
      stderr: devNull,
    });
    expect(code).toBe(0);

    // A client that still has a hosts.toml for gamma.test, which this regcache does not cache.
    const clientSide = parseConfig(
      `domain: ${DOMAIN}\nlisten: "127.0.0.1:${regcache.routerPort}"\nregistries:\n  gamma.test:\n    upstream: ${upstreams.get('gamma.test')!.url}\n`,
      { source: join(scratch, 'client.yaml'), env: {} },
    );
    if (!clientSide.ok) throw new Error(JSON.stringify(clientSide.problems));
    const options = parseClientOptions(clientSide.value, {});
    if (!options.ok) throw new Error(JSON.stringify(options.problems));
    const [gamma] = generateClientConfig('containerd', clientSide.value, options.value).files;
    await mkdir(join(vhostDir, 'gamma.test'), { recursive: true });
    await writeFile(join(vhostDir, gamma!.path), gamma!.content);
  });

  afterAll(async () => {
    await containerd?.stop();
    await regcache?.stop();
    for (const upstream of upstreams.values()) await upstream.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('generates one hosts.toml per registry pointing at the real upstreams', async () => {
    for (const registry of CACHED) {
      const vhostToml = parseToml(await readFile(join(vhostDir, registry, 'hosts.toml'), 'utf8'));
      expect(vhostToml).toEqual({
        server: upstreams.get(registry)!.url,
        host: { [`http://${registry}.${DOMAIN}:${regcache.routerPort}`]: { capabilities: ['pull', 'resolve'] } },
      });
      const singleToml = parseToml(await readFile(join(singleDir, registry, 'hosts.toml'), 'utf8'));
      expect(singleToml).toEqual({
        server: upstreams.get(registry)!.url,
        host: { [`http://${DOMAIN}:${regcache.routerPort}`]: { capabilities: ['pull', 'resolve'] } },
      });
    }
  });

  it('ctr pulls from every registry through its vhost; digests match the upstream', async () => {
    for (const registry of CACHED) {
      const { repository, image: img } = image(registry, 'vhost');
      for (const u of upstreams.values()) u.clearRequests();
      await pull('vhost', vhostDir, `${registry}/${repository}:v1`);
      expect(await containerd.imageDigest('vhost', `${registry}/${repository}:v1`)).toBe(img.manifestDigest);

      const log = await readAccessLog(regcache.dir);
      const vhost = `${registry}.${DOMAIN}`;
      for (const blob of [img.config, ...img.layers]) {
        expect(routed(log, vhost, `/v2/${repository}/blobs/${blob.digest}`), `${blob.digest} via ${vhost}`).toHaveLength(1);
      }
      // containerd adds ?ns=<registry> only when it talks to a host other than the registry itself,
      // so an upstream request with ns would mean the fallback to `server` was used.
      const direct = (await upstreams.get(registry)!.settledRequests()).filter((r) => r.uri.includes('ns='));
      expect(direct).toEqual([]);
    }
  });

  it('ctr pulls from every registry through the single endpoint, routed by ns', async () => {
    for (const registry of CACHED) {
      const { repository, image: img } = image(registry, 'single');
      await pull('single', singleDir, `${registry}/${repository}:v1`);
      expect(await containerd.imageDigest('single', `${registry}/${repository}:v1`)).toBe(img.manifestDigest);
      const log = await readAccessLog(regcache.dir);
      const layer = img.layers[1]!.digest;
      const hits = routed(log, DOMAIN, `/v2/${repository}/blobs/${layer}`);
      expect(hits).toHaveLength(1);
      expect(hits[0]).toMatchObject({ vhost: registry, uri: `/v2/${repository}/blobs/${layer}?ns=${registry}` });
      expect((await upstreams.get(registry)!.settledRequests()).filter((r) => r.uri.includes('ns='))).toEqual([]);
    }
  });

  it('a registry regcache does not cache falls back to its upstream (the router answers 404 NAME_UNKNOWN)', async () => {
    const { repository, image: img } = image('gamma.test', 'vhost');
    await pull('fallback', vhostDir, `gamma.test/${repository}:v1`);
    expect(await containerd.imageDigest('fallback', `gamma.test/${repository}:v1`)).toBe(img.manifestDigest);

    const misses = (await readAccessLog(regcache.dir)).filter((e) => e.host === `gamma.test.${DOMAIN}`);
    expect(misses.length).toBeGreaterThan(0);
    expect(misses.every((e) => e.status === 404)).toBe(true);
    const direct = await upstreams.get('gamma.test')!.settledRequests();
    expect(direct.some((r) => r.path === `/v2/${repository}/manifests/v1` && r.uri.includes('ns=gamma.test') && r.status === 200)).toBe(true);
    expect(direct.some((r) => r.path === `/v2/${repository}/blobs/${img.layers[1]!.digest}` && r.status === 200)).toBe(true);
  });

  it('skopeo inspects and copies through a vhost', async () => {
    const skopeo = requireBinary(['skopeo']);
    const { repository, image: img } = image('alpha.test', 'skopeo');
    const ref = `docker://alpha.test.${DOMAIN}:${regcache.routerPort}/${repository}:v1`;
    const exec = async (args: string[]) => {
      const { command, args: argv } = hosts.wrap(skopeo, ['--insecure-policy', ...args]);
      try {
        return (await run(command, argv, { maxBuffer: 16 << 20, timeout: 120_000 })).stdout;
      } catch (err) {
        throw new Error(`skopeo ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
      }
    };
    const info = JSON.parse(await exec(['inspect', '--tls-verify=false', ref]));
    expect(info.Digest).toBe(img.manifestDigest);
    expect(info.Layers).toEqual(img.layers.map((l) => l.digest));

    const dest = join(scratch, 'skopeo-copy');
    await exec(['copy', '--src-tls-verify=false', ref, `dir:${dest}`]);
    expect((await readFile(join(dest, 'manifest.json'))).equals(img.manifest)).toBe(true);
    for (const layer of img.layers) {
      expect((await readFile(join(dest, layer.digest.slice('sha256:'.length)))).equals(layer.data)).toBe(true);
    }
    const log = await readAccessLog(regcache.dir);
    expect(routed(log, `alpha.test.${DOMAIN}`, `/v2/${repository}/blobs/${img.layers[1]!.digest}`)).toHaveLength(1);
  });

  it('the k3s registries.yaml parses and holds exactly the expected endpoints', async () => {
    const vhost = parseYaml(await (await api('/clients/k3s?format=text')).text());
    expect(vhost).toEqual({
      mirrors: Object.fromEntries(CACHED.map((r: Cached) => [r, { endpoint: [`http://${r}.${DOMAIN}:${regcache.routerPort}`] }])),
    });
    const single = parseYaml(await (await api('/clients/k3s?mode=single&endpoint=http://registry-cache:5000&format=text')).text());
    expect(single).toEqual({ mirrors: Object.fromEntries(CACHED.map((r: Cached) => [r, { endpoint: ['http://registry-cache:5000'] }])) });
  });

  it('a private dockerd with the generated daemon.json pulls a docker.io image through the cache', async () => {
    const daemonJson = await (await api('/clients/docker?format=text')).text();
    expect(JSON.parse(daemonJson)).toEqual({
      'registry-mirrors': [`http://docker.io.${DOMAIN}:${regcache.routerPort}`],
      'insecure-registries': [`docker.io.${DOMAIN}:${regcache.routerPort}`],
    });
    const { repository, image: img } = image('docker.io', 'docker');
    let dockerd: PrivateDockerd | undefined;
    try {
      dockerd = await startPrivateDockerd({ daemonJson, containerdAddress: containerd.address, hosts });
      // registry-1.docker.io is unreachable here: the pull can only succeed through the mirror.
      await dockerd.docker(['pull', `docker.io/${repository}:v1`]);
      const repoDigests = JSON.parse(await dockerd.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', `${repository}:v1`]));
      expect(repoDigests).toEqual([`${repository.replace(/^library\//, '')}@${img.manifestDigest}`]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- dockerd log ---\n${(await dockerd?.log())?.slice(-4000) ?? ''}`);
    } finally {
      await dockerd?.stop();
    }
    const log = await readAccessLog(regcache.dir);
    const manifests = routed(log, `docker.io.${DOMAIN}`, `/v2/${repository}/manifests/`);
    expect(manifests.length).toBeGreaterThan(0);
    expect(manifests.every((e) => e.vhost === 'docker.io' && !e.uri.includes('ns='))).toBe(true);
    expect(routed(log, `docker.io.${DOMAIN}`, `/v2/${repository}/blobs/${img.layers[1]!.digest}`)).toHaveLength(1);
  });
});
