// podman, buildah and skopeo (containers/image: what CRI-O uses too) pulling through regcache with the
// generated registries.conf drop-in, installed where they read it: /etc/containers/registries.conf.d/,
// bind-mounted from a temp dir in the tools' own mount namespace (with a private /etc/hosts), so the
// machine's files stay as they are. Three local upstreams play docker.io, ghcr.io and registry.k8s.io;
// the docker.io cache is named `hub` (mirrorOf: docker.io) and hosts use hostStyle dashed.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { readAccessLog } from '../helpers/access-log.js';
import { requireBinary } from '../helpers/binaries.js';
import { generateImage, generateIndex, type TestImage } from '../helpers/image.js';
import { startRegcache, type RunningRegcache } from '../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const run = promisify(execFile);
const DOMAIN = 'regcache.test';
/** Registry host → cache name (as in registries.yaml) and the vhost hostStyle dashed gives it. */
const CACHES = {
  'docker.io': { cache: 'hub', vhost: `hub.${DOMAIN}` },
  'ghcr.io': { cache: 'ghcr.io', vhost: `ghcr-io.${DOMAIN}` },
  'registry.k8s.io': { cache: 'registry.k8s.io', vhost: `registry-k8s-io.${DOMAIN}` },
} as const;
type RegistryHost = keyof typeof CACHES;

describe('podman, buildah and skopeo with the generated registries.conf', () => {
  const upstreams = new Map<RegistryHost, UpstreamRegistry>();
  let regcache: RunningRegcache;
  let scratch: string;
  let confDir: string;
  let hostsFile: string;
  const images = {
    podman: generateImage({ seed: 'podman-app', layers: [3000, 90_000] }),
    buildah: generateImage({ seed: 'buildah-tool', layers: [5000], mediaType: 'oci' }),
    skopeo: generateImage({ seed: 'skopeo-pause', layers: [1000, 40_000] }),
    amd64: generateImage({ seed: 'multi', layers: [20_000], mediaType: 'oci', platform: { os: 'linux', architecture: 'amd64' } }),
    arm64: generateImage({ seed: 'multi', layers: [20_000], mediaType: 'oci', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
  };
  const index = generateIndex([images.amd64, images.arm64]);

  /** Runs a containers tool with the private /etc/hosts and our drop-in directory mounted over the real one. */
  const tool = async (bin: string, args: string[]) => {
    const unshare = requireBinary(['unshare']);
    const script = 'mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/containers/registries.conf.d && shift && exec "$@"';
    try {
      return (await run(unshare, ['--mount', '--', 'sh', '-c', script, hostsFile, confDir, bin, ...args], { maxBuffer: 16 << 20, timeout: 180_000 }))
        .stdout;
    } catch (err) {
      throw new Error(`${bin} ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
    }
  };
  const storage = (name: string) => {
    const dir = join(scratch, name);
    return ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs'];
  };
  const podman = (args: string[]) =>
    tool(requireBinary(['podman']), [
      ...storage('podman'),
      '--cgroup-manager',
      'cgroupfs',
      '--events-backend',
      'none',
      '--tmpdir',
      join(scratch, 'podman-tmp'),
      ...args,
    ]);
  const accessLog = () => readAccessLog(regcache.dir);
  /** Every blob of the image went through the registry host's vhost (to its cache) with 200. */
  const expectThroughCache = async (registry: RegistryHost, repository: string, img: TestImage) => {
    const log = await accessLog();
    for (const blob of [img.config, ...img.layers]) {
      const hits = log.filter(
        (e) => e.host === CACHES[registry].vhost && e.method === 'GET' && e.uri === `/v2/${repository}/blobs/${blob.digest}` && e.status === 200,
      );
      expect(hits.length, `${blob.digest} via ${CACHES[registry].vhost}`).toBeGreaterThan(0);
      expect(new Set(hits.map((e) => e.vhost))).toEqual(new Set([CACHES[registry].cache]));
    }
  };

  beforeAll(async () => {
    for (const b of ['podman', 'buildah', 'skopeo', 'unshare', 'mount']) requireBinary([b]);
    scratch = await mkdtemp(join(tmpdir(), 'regcache-podman-it-'));
    for (const registry of Object.keys(CACHES) as RegistryHost[]) upstreams.set(registry, await startUpstreamRegistry());
    await seedUpstream(upstreams.get('docker.io')!, [{ repository: 'library/app', tag: 'v1', image: images.podman }]);
    await seedUpstream(upstreams.get('ghcr.io')!, [
      { repository: 'org/tool', tag: 'v1', image: images.buildah },
      { repository: 'org/multi', tag: 'v1', image: index },
    ]);
    await seedUpstream(upstreams.get('registry.k8s.io')!, [{ repository: 'pause', tag: '3.9', image: images.skopeo }]);
    regcache = await startRegcache({
      domain: DOMAIN,
      hostStyle: 'dashed',
      registries: {
        hub: { upstream: upstreams.get('docker.io')!.url, mirrorOf: 'docker.io' },
        'ghcr.io': { upstream: upstreams.get('ghcr.io')!.url },
        'registry.k8s.io': { upstream: upstreams.get('registry.k8s.io')!.url },
      },
    });
    hostsFile = join(scratch, 'hosts');
    const system = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1 localhost\n');
    await writeFile(
      hostsFile,
      `${system.trimEnd()}\n127.0.0.1 ${Object.values(CACHES)
        .map((c) => c.vhost)
        .join(' ')}\n`,
    );

    // The drop-in from the admin API, installed as the only file of registries.conf.d.
    confDir = join(scratch, 'registries.conf.d');
    await mkdir(confDir, { recursive: true });
    const res = await fetch(`${regcache.adminUrl}/api/v1/clients/podman?format=text`);
    expect(res.status).toBe(200);
    await writeFile(join(confDir, 'regcache.conf'), await res.text());
  });

  afterAll(async () => {
    await regcache?.stop();
    for (const upstream of upstreams.values()) await upstream.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('the drop-in maps each registry host to its cache, with the upstream as the fallback location', async () => {
    const conf = parseToml(await readFile(join(confDir, 'regcache.conf'), 'utf8'));
    const port = regcache.routerPort;
    expect(conf).toEqual({
      registry: (Object.keys(CACHES) as RegistryHost[]).map((registry) => ({
        prefix: registry,
        location: upstreams.get(registry)!.host,
        insecure: true,
        mirror: [{ location: `${CACHES[registry].vhost}:${port}`, insecure: true }],
      })),
    });
    // The CLI writes the same file.
    const chunks: string[] = [];
    const out = new Writable({ write: (c, _e, done) => (chunks.push(String(c)), done()) });
    const code = await runCli(['clients', 'podman', '--config', regcache.configFile], {
      env: {},
      stdout: out,
      stderr: new Writable({ write: (_c, _e, d) => d() }),
    });
    expect(code).toBe(0);
    expect(chunks.join('')).toBe(await readFile(join(confDir, 'regcache.conf'), 'utf8'));
  });

  it('podman pulls a docker.io image through the cache named hub', async () => {
    await podman(['pull', '-q', 'docker.io/library/app:v1']);
    const id = (await podman(['image', 'inspect', '--format', '{{.Id}}', 'docker.io/library/app:v1'])).trim();
    expect(`sha256:${id}`).toBe(images.podman.config.digest);
    const digests = await podman(['image', 'inspect', '--format', '{{json .RepoDigests}}', 'docker.io/library/app:v1']);
    expect(JSON.parse(digests)).toContain(`docker.io/library/app@${images.podman.manifestDigest}`);
    await expectThroughCache('docker.io', 'library/app', images.podman);
  });

  it('podman pulls one OCI index for two platforms, each image its own platform', async () => {
    for (const [platform, img] of [
      ['linux/amd64', images.amd64],
      ['linux/arm64/v8', images.arm64],
    ] as const) {
      await podman(['pull', '-q', '--platform', platform, 'ghcr.io/org/multi:v1']);
      const id = (await podman(['image', 'inspect', '--format', '{{.Id}}', 'ghcr.io/org/multi:v1'])).trim();
      expect(`sha256:${id}`, platform).toBe(img.config.digest);
      await expectThroughCache('ghcr.io', 'org/multi', img);
    }
  });

  it('buildah pulls a ghcr.io image (OCI) through its dashed vhost', async () => {
    const buildah = requireBinary(['buildah']);
    await tool(buildah, [...storage('buildah'), 'pull', '-q', 'ghcr.io/org/tool:v1']);
    const id = (
      await tool(buildah, [...storage('buildah'), 'inspect', '--type', 'image', '--format', '{{.FromImageID}}', 'ghcr.io/org/tool:v1'])
    ).trim();
    expect(`sha256:${id}`).toBe(images.buildah.config.digest);
    await expectThroughCache('ghcr.io', 'org/tool', images.buildah);
  });

  it('skopeo inspects and copies a registry.k8s.io image through the cache', async () => {
    const skopeo = requireBinary(['skopeo']);
    // Tag lists are asked of the registry itself (registries.conf mirrors serve pulls): --no-tags.
    const info = JSON.parse(await tool(skopeo, ['inspect', '--no-tags', 'docker://registry.k8s.io/pause:3.9']));
    expect(info.Digest).toBe(images.skopeo.manifestDigest);
    expect(info.Layers).toEqual(images.skopeo.layers.map((l) => l.digest));
    const dest = join(scratch, 'skopeo-copy');
    await tool(skopeo, ['--insecure-policy', 'copy', 'docker://registry.k8s.io/pause:3.9', `dir:${dest}`]);
    expect((await readFile(join(dest, 'manifest.json'))).equals(images.skopeo.manifest)).toBe(true);
    for (const layer of images.skopeo.layers) {
      expect((await readFile(join(dest, layer.digest.slice('sha256:'.length)))).equals(layer.data)).toBe(true);
    }
    await expectThroughCache('registry.k8s.io', 'pause', images.skopeo);
  });

  it('counts the TLS handshakes these tools try on the plain port apart from unknown hosts', async () => {
    const status = await (await fetch(`${regcache.adminUrl}/api/v1/status`)).json();
    expect(status.observer.accessLog.tlsOnPlainRequests).toBeGreaterThan(0);
    expect(status.observer.accessLog.unroutedRequests).toBe(0);
    const metrics = await (await fetch(`${regcache.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/regcache_unrouted_requests_total\{reason="tls_on_plain_port"\} [1-9]/);
    expect(metrics).toContain('regcache_unrouted_requests_total{reason="unknown_host"} 0');
  });
});
