// Two caches of one registry host (mirrorOrder 1 and 2) with podman through the generated registries.conf:
// when the first cache cannot serve an image (its upstream lacks it: 404), podman tries the second mirror,
// as docs/clients.md says. The fallback `location` is the first cache's upstream, which lacks the image
// too, so the pull can only succeed through the second cache; the access log shows which vhost served it.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAccessLog, type AccessLogEntry } from '../helpers/access-log.js';
import { requireBinary, waitFor } from '../helpers/binaries.js';
import { rawRequest } from '../helpers/push.js';
import { generateImage } from '../helpers/image.js';
import { startRegcache, type RunningRegcache } from '../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const run = promisify(execFile);
const DOMAIN = 'regcache.test';
const FIRST = { cache: 'hub', vhost: `hub.${DOMAIN}` };
const SECOND = { cache: 'docker.io', vhost: `docker-io.${DOMAIN}` };

describe('podman: the second cache of docker.io serves what the first cannot', () => {
  let first: UpstreamRegistry;
  let second: UpstreamRegistry;
  let regcache: RunningRegcache;
  let scratch: string;
  let confDir: string;
  let hostsFile: string;
  const onlySecond = generateImage({ seed: 'failover-only-second', layers: [4000, 30_000] });
  const whileDown = generateImage({ seed: 'failover-first-down', layers: [6000] });

  const podman = async (args: string[]) => {
    const unshare = requireBinary(['unshare']);
    const script = 'mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/containers/registries.conf.d && shift && exec "$@"';
    const storage = ['--root', join(scratch, 'root'), '--runroot', join(scratch, 'run'), '--storage-driver', 'vfs'];
    const options = ['--cgroup-manager', 'cgroupfs', '--events-backend', 'none', '--tmpdir', join(scratch, 'tmp')];
    try {
      const argv = ['--mount', '--', 'sh', '-c', script, hostsFile, confDir, requireBinary(['podman']), ...storage, ...options, ...args];
      return (await run(unshare, argv, { maxBuffer: 16 << 20, timeout: 180_000 })).stdout;
    } catch (err) {
      throw new Error(`podman ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
    }
  };

  beforeAll(async () => {
    for (const b of ['podman', 'unshare', 'mount']) requireBinary([b]);
    scratch = await mkdtemp(join(tmpdir(), 'regcache-podman-failover-'));
    [first, second] = await Promise.all([startUpstreamRegistry(), startUpstreamRegistry()]);
    await seedUpstream(second, [
      { repository: 'library/only-second', tag: 'v1', image: onlySecond },
      { repository: 'library/while-down', tag: 'v1', image: whileDown },
    ]);
    regcache = await startRegcache(
      {
        domain: DOMAIN,
        hostStyle: 'dashed',
        registries: {
          [FIRST.cache]: { upstream: first.url, mirrorOf: 'docker.io', mirrorOrder: 1 },
          [SECOND.cache]: { upstream: second.url, mirrorOrder: 2 },
        },
      },
      { upstreamProbeMs: 500 },
    );
    hostsFile = join(scratch, 'hosts');
    const system = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1 localhost\n');
    await writeFile(hostsFile, `${system.trimEnd()}\n127.0.0.1 ${FIRST.vhost} ${SECOND.vhost}\n`);
    confDir = join(scratch, 'registries.conf.d');
    await mkdir(confDir, { recursive: true });
    const res = await fetch(`${regcache.adminUrl}/api/v1/clients/podman?format=text`);
    expect(res.status).toBe(200);
    await writeFile(join(confDir, 'regcache.conf'), await res.text());
  });

  afterAll(async () => {
    await regcache?.stop();
    await Promise.all([first?.stop(), second?.stop()]);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const manifestStatuses = (log: AccessLogEntry[], vhost: string, repository: string) =>
    log.filter((e) => e.host === vhost && e.uri.startsWith(`/v2/${repository}/manifests/`)).map((e) => e.status);

  it('the drop-in lists both caches in mirror order, the first cache upstream as location', async () => {
    const port = regcache.routerPort;
    expect(parseToml(await readFile(join(confDir, 'regcache.conf'), 'utf8'))).toEqual({
      registry: [
        {
          prefix: 'docker.io',
          location: first.host,
          insecure: true,
          mirror: [
            { location: `${FIRST.vhost}:${port}`, insecure: true },
            { location: `${SECOND.vhost}:${port}`, insecure: true },
          ],
        },
      ],
    });
  });

  it('an image only the second cache can fetch is pulled through it after the first answers 404', async () => {
    await podman(['pull', '-q', 'docker.io/library/only-second:v1']);
    const id = (await podman(['image', 'inspect', '--format', '{{.Id}}', 'docker.io/library/only-second:v1'])).trim();
    expect(`sha256:${id}`).toBe(onlySecond.config.digest);

    const log = await readAccessLog(regcache.dir);
    const manifests = (vhost: string) => manifestStatuses(log, vhost, 'library/only-second');
    // The first mirror was asked and could not answer; the second answered.
    expect(manifests(FIRST.vhost).length).toBeGreaterThan(0);
    expect(manifests(FIRST.vhost).every((s) => s === 404)).toBe(true);
    expect(manifests(SECOND.vhost)).toContain(200);
    for (const blob of [onlySecond.config, ...onlySecond.layers]) {
      const served = log.filter((e) => e.uri === `/v2/library/only-second/blobs/${blob.digest}` && e.method === 'GET' && e.status === 200);
      expect(new Set(served.map((e) => e.vhost)), blob.digest).toEqual(new Set([SECOND.cache]));
    }
  });

  it("with the first cache's upstream down (router 503), podman pulls through the second cache", async () => {
    await first.stop();
    // The router tells an outage from a missing image once the daemon's upstream probe has seen it.
    const path = '/v2/library/while-down/manifests/v1';
    await waitFor(async () => (await rawRequest(`${regcache.routerUrl}${path}`, 'GET', { host: FIRST.vhost })).status === 503, {
      what: 'the router to report the first upstream down',
    });
    const before = (await readAccessLog(regcache.dir)).length;
    await podman(['pull', '-q', 'docker.io/library/while-down:v1']);
    const id = (await podman(['image', 'inspect', '--format', '{{.Id}}', 'docker.io/library/while-down:v1'])).trim();
    expect(`sha256:${id}`).toBe(whileDown.config.digest);
    const log = (await readAccessLog(regcache.dir)).slice(before);
    const firstStatuses = manifestStatuses(log, FIRST.vhost, 'library/while-down');
    expect(firstStatuses.length).toBeGreaterThan(0);
    expect(
      firstStatuses.every((s) => s === 503),
      JSON.stringify(firstStatuses),
    ).toBe(true);
    expect(manifestStatuses(log, SECOND.vhost, 'library/while-down')).toContain(200);
  });
});
