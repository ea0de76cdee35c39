// Issue 11, full disk: dataDir on a small tmpfs. Below cache.minFreeSpace the vhosts show degraded with
// a lastError that says so, regcache_disk_free_bytes and an event report it, pulls of uncached content
// fail at once with a registry error (not a 200 cut off half-way), cached content keeps serving,
// abandoned partial uploads are removed, and once space is back everything works without a restart.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, statfs, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { fetchBlob, startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';

const run = promisify(execFile);
const HOST = 'docker.io.registry.test';
const MIB = 1024 * 1024;

describe('full disk under dataDir', () => {
  let upstream: FaultUpstream;
  let rc: RunningRegcache;
  let dir: string;
  let dataDir: string;
  let mounted = false;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-diskfull-'));
    dataDir = path.join(dir, 'data');
    upstream = await startFaultUpstream();
    rc = await startRegcache(
      { cache: { minFreeSpace: '12m' }, registries: { 'docker.io': { upstream: upstream.url } } },
      {
        dir,
        diskSpace: { checkMs: 300, cleanupMs: 1000 },
        prepare: async () => {
          await mkdir(dataDir);
          // Fails (and so fails the test) without root: the disk must be filled for real.
          await run('mount', ['-t', 'tmpfs', '-o', 'size=40m,mode=0755', 'tmpfs', dataDir]);
          mounted = true;
        },
      },
    );
  });
  afterAll(async () => {
    await rc?.stop({ keepDir: true });
    await upstream?.stop();
    if (mounted) await run('umount', ['-l', dataDir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses cold pulls fast, serves cached ones, reports it, cleans uploads and recovers without a restart', async () => {
    const cached = upstream.addBlob(2 * MIB);
    const cold = upstream.addBlob(3 * MIB);
    expect((await fetchBlob(rc.routerUrl, HOST, 'library/app', cached.digest)).body.equals(cached.data)).toBe(true);
    expect((await adminJson(rc, '/api/v1/vhosts/docker.io')).body.status).toBe('up');

    // An upload distribution abandoned long ago (a fetch that failed half-way).
    const uploads = path.join(dataDir, 'caches', 'docker-io', 'docker', 'registry', 'v2', 'repositories', 'library', 'app', '_uploads');
    const stale = path.join(uploads, '0b5e0c3e-0000-4000-8000-000000000001');
    await mkdir(stale, { recursive: true });
    await writeFile(path.join(stale, 'data'), Buffer.alloc(MIB));
    const old = new Date(Date.now() - 3600_000);
    await utimes(path.join(stale, 'data'), old, old);
    await utimes(stale, old, old);

    const { bavail, bsize } = await statfs(dataDir);
    const filler = path.join(dataDir, 'filler');
    await writeFile(filler, Buffer.alloc(Number(bavail) * Number(bsize) - 6 * MIB));
    try {
      const v = await waitFor(
        async () => {
          const body = (await adminJson(rc, '/api/v1/vhosts/docker.io')).body;
          return body.status === 'degraded' && /disk almost full/.test(body.lastError ?? '') ? body : undefined;
        },
        { timeoutMs: 20_000, what: 'the vhost to show degraded for the disk' },
      );
      expect(v.lastError).toMatch(/cache\.minFreeSpace/);
      const events = (await adminJson(rc, '/api/v1/events?limit=50')).body.events as Array<{ level: string; message: string }>;
      expect(events.some((e) => e.level === 'error' && /disk almost full/.test(e.message))).toBe(true);
      const metrics = await (await fetch(`${rc.adminUrl}/metrics`)).text();
      const free = Number(/^regcache_disk_free_bytes (\d+)/m.exec(metrics)?.[1]);
      expect(free).toBeLessThan(12 * MIB);
      expect(metrics).toMatch(/^regcache_disk_min_free_bytes 12582912$/m);
      expect((await adminJson(rc, '/api/v1/status')).body.disk).toMatchObject({ low: true, minFreeBytes: 12 * MIB });

      // The router's next generation refuses what it does not hold.
      const conf = await waitFor(
        async () => {
          const text = await readFile(path.join(dataDir, 'nginx', 'nginx.conf'), 'utf8');
          return text.includes('regcache_disk_full') ? text : undefined;
        },
        { timeoutMs: 20_000, what: 'the router config to refuse cold pulls' },
      );
      const generation = /generation (\d+)/.exec(conf)![1];
      await waitFor(async () => ((await (await fetch(`${rc.routerUrl}/__regcache/generation`)).text()).trim() === generation ? true : undefined), {
        what: 'nginx to serve that generation',
      });
      // Cold pull: refused at once with a registry error, nothing fetched upstream.
      const refused = await fetchBlob(rc.routerUrl, HOST, 'library/app', cold.digest);
      expect(refused.status).toBe(507);
      expect(JSON.parse(refused.body.toString()).errors[0]).toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(/disk almost full/),
      });
      expect(upstream.blobGets(cold.digest)).toBe(0);
      // Cached content keeps serving.
      const hit = await fetchBlob(rc.routerUrl, HOST, 'library/app', cached.digest);
      expect(hit.status).toBe(200);
      expect(hit.body.equals(cached.data)).toBe(true);
      // The abandoned upload is gone.
      await waitFor(async () => ((await readdir(uploads).catch(() => [])).length === 0 ? true : undefined), {
        timeoutMs: 10_000,
        what: 'the stale upload to be removed',
      });
    } finally {
      await rm(filler, { force: true });
    }

    // Space back: no restart, the next cold pull works.
    await waitFor(async () => ((await adminJson(rc, '/api/v1/vhosts/docker.io')).body.status === 'up' ? true : undefined), {
      timeoutMs: 20_000,
      what: 'the vhost up again',
    });
    const back = await waitFor(
      async () => {
        const r = await fetchBlob(rc.routerUrl, HOST, 'library/app', cold.digest);
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 20_000, what: 'the cold pull to work once space is back' },
    );
    expect(back.body.equals(cold.data)).toBe(true);
    expect((await adminJson(rc, '/api/v1/vhosts/docker.io')).body.lastError).toBeNull();
  }, 90_000);
});
