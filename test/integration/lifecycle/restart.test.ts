import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, waitFor } from '../../helpers/binaries.js';
import { startDaemonProcess, type DaemonProcess } from '../../helpers/daemon-process.js';
import { generateImage } from '../../helpers/image.js';
import { startLoadLoop } from '../../helpers/load-loop.js';
import { pidsMatching } from '../../helpers/processes.js';
import { getBlob, getManifest } from '../../helpers/push.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

/** Pulls (manifest by tag, then every blob) in a loop from 3 clients, counting failures, until stopped. */
function startPullLoop(base: string, host: string, image: ReturnType<typeof generateImage>) {
  const headers = { host };
  return startLoadLoop(async () => {
    const m = await getManifest(base, 'library/app', 'v1', undefined, { headers });
    if (m.status !== 200 || m.digest !== image.manifestDigest) throw new Error(`manifest HTTP ${m.status}`);
    for (const layer of image.layers) {
      const b = await getBlob(base, 'library/app', layer.digest, { headers });
      if (b.status !== 200 || !b.body.equals(layer.data)) throw new Error(`blob HTTP ${b.status}`);
    }
  });
}

describe('daemon restart adopts what is running; SIGHUP reloads', () => {
  let dir: string;
  let dataDir: string;
  let configFile: string;
  let routerPort: number;
  let adminUrl: string;
  let hub: UpstreamRegistry;
  let mirror: UpstreamRegistry;
  let daemon: DaemonProcess | null = null;
  const image = generateImage({ seed: 'restart-adopt' });
  const host = 'docker.io.registry.test';

  const writeConfig = async (upstream: string, extra: Record<string, unknown> = {}) => {
    await writeFile(
      configFile,
      stringify({
        domain: 'registry.test',
        listen: `127.0.0.1:${routerPort}`,
        admin: { listen: adminUrl.replace('http://', '') },
        runtime: 'process',
        dataDir: './data',
        registries: { 'docker.io': { upstream, ...extra } },
      }),
    );
  };
  const pidOf = async (file: string) => Number((await readFile(file, 'utf8')).trim());
  const routerPid = () => pidOf(path.join(dataDir, 'nginx', 'nginx.pid'));
  const egressPid = () => pidOf(path.join(dataDir, 'egress-nginx', 'nginx.pid'));
  const cachePid = () => pidOf(path.join(dataDir, 'run', 'docker-io', 'registry.pid'));
  const alive = async (pid: number) => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    return stat !== '' && !/^\d+ \(.*\) [ZX] /.test(stat);
  };
  const ready = async () => (await fetch(`${adminUrl}/readyz`).catch(() => null))?.status === 200;
  const status = async () => (await fetch(`${adminUrl}/api/v1/status`)).json() as Promise<any>;
  const pullOnce = async () => {
    const m = await getManifest(`http://127.0.0.1:${routerPort}`, 'library/app', 'v1', undefined, { headers: { host } });
    return m.status === 200 && m.digest === image.manifestDigest;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-restart-'));
    await chmod(dir, 0o755);
    dataDir = path.join(dir, 'data');
    configFile = path.join(dir, 'registries.yaml');
    routerPort = await findFreePort();
    adminUrl = `http://127.0.0.1:${await findFreePort()}`;
    [hub, mirror] = await Promise.all([startUpstreamRegistry(), startUpstreamRegistry()]);
    await Promise.all([hub, mirror].map((u) => seedUpstream(u, [{ repository: 'library/app', tag: 'v1', image }])));
    await writeConfig(hub.url);
    daemon = await startDaemonProcess(configFile, adminUrl);
    await waitFor(ready, { what: 'readyz', timeoutMs: 30_000 });
    await waitFor(pullOnce, { what: 'first pull', timeoutMs: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await daemon?.kill('SIGTERM');
    for (const pid of pidsMatching(dataDir)) process.kill(pid, 'SIGKILL');
    await Promise.all([hub?.stop(), mirror?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('kill -9 of the daemon during a pull loop, then start again: 0 failed pulls, same nginx, egress and cache pids', async () => {
    const before = { router: await routerPid(), egress: await egressPid(), cache: await cachePid() };
    const { generation } = await status();
    const load = startPullLoop(`http://127.0.0.1:${routerPort}`, host, image);
    await waitFor(async () => load.ok() > 5, { what: 'the pull loop to run' });
    await daemon!.kill('SIGKILL');
    daemon = await startDaemonProcess(configFile, adminUrl);
    await waitFor(ready, { what: 'readyz after restart', timeoutMs: 30_000 });
    const atReady = load.ok();
    await waitFor(async () => load.ok() > atReady + 5, { what: 'pulls after the restart' });
    const { ok, failures } = await load.stop();

    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(10);
    expect({ router: await routerPid(), egress: await egressPid(), cache: await cachePid() }).toEqual(before);
    for (const pid of Object.values(before)) expect(await alive(pid)).toBe(true);
    const s = await status();
    // The same config renders the same bytes: nothing was reloaded.
    expect(s.generation).toBe(generation);
    expect(s.lastError).toBeNull();
    const events = (await (await fetch(`${adminUrl}/api/v1/events`)).json()).events as Array<{ message: string }>;
    expect(events.map((e) => e.message)).toEqual(expect.arrayContaining([`adopted the running nginx (generation ${generation})`]));
    // Exactly one of each runs from this dataDir.
    expect(pidsMatching(path.join(dataDir, 'run', 'docker-io', 'config.yml'))).toEqual([before.cache]);
  }, 90_000);

  it('adopted processes are supervised: a killed adopted nginx and cache come back', async () => {
    const router = await routerPid();
    const cache = await cachePid();
    process.kill(router, 'SIGKILL');
    process.kill(cache, 'SIGKILL');
    await waitFor(async () => (await routerPid().catch(() => router)) !== router && (await cachePid().catch(() => cache)) !== cache, {
      what: 'new nginx and cache pids',
      timeoutMs: 20_000,
    });
    await waitFor(pullOnce, { what: 'pulls after the adopted processes were restarted', timeoutMs: 20_000 });
    const s = await status();
    expect(s.nginx.restarts).toBe(1);
    expect(s.vhosts[0].backend.restarts).toBe(1);
    expect(await alive(router)).toBe(false);
  }, 60_000);

  it('SIGHUP re-reads the config and the daemon keeps running', async () => {
    const router = await routerPid();
    const { generation } = await status();
    // Change the file with the daemon not watching it for a moment: write, then SIGHUP at once.
    await writeConfig(hub.url, { aliases: ['hub.mirror.test'] });
    daemon!.child.kill('SIGHUP');
    await waitFor(async () => daemon!.output.some((l) => l.includes('SIGHUP reload done')), { what: 'the SIGHUP reload', timeoutMs: 15_000 });
    expect(daemon!.child.exitCode).toBeNull();
    await waitFor(async () => (await status()).generation > generation, { what: 'a new generation' });
    const m = await getManifest(`http://127.0.0.1:${routerPort}`, 'library/app', 'v1', undefined, { headers: { host: 'hub.mirror.test' } });
    expect(m.status).toBe(200);
    // nginx reloads in place.
    expect(await routerPid()).toBe(router);
    daemon!.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    expect(daemon!.child.exitCode).toBeNull();
    expect(await ready()).toBe(true);
  }, 60_000);

  it('a restart with a changed spec replaces the cache and keeps the nginx', async () => {
    const router = await routerPid();
    const cache = await cachePid();
    await daemon!.kill('SIGKILL');
    await writeConfig(mirror.url);
    daemon = await startDaemonProcess(configFile, adminUrl);
    await waitFor(ready, { what: 'readyz after restart', timeoutMs: 30_000 });
    await waitFor(async () => (await status()).vhosts[0]?.upstream === mirror.url, { what: 'the new upstream' });
    expect(await cachePid()).not.toBe(cache);
    expect(await alive(cache)).toBe(false);
    expect(await routerPid()).toBe(router);
    await waitFor(pullOnce, { what: 'pull from the replaced cache' });
    expect(pidsMatching(path.join(dataDir, 'run', 'docker-io', 'config.yml'))).toHaveLength(1);
  }, 60_000);

  it('SIGTERM still stops everything', async () => {
    await daemon!.kill('SIGTERM');
    const { code } = await daemon!.exited;
    expect(code).toBe(0);
    daemon = null;
    expect(pidsMatching(dataDir)).toEqual([]);
  }, 30_000);
});
