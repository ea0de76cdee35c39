// Upstream passwords from ${VAR}, .env and passwordFile reach the caches and nowhere else.
import { execFile } from 'node:child_process';
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { generateImage } from '../../helpers/image.js';
import { getManifest } from '../../helpers/push.js';
import { packageRoot } from '../../../src/util/package-root.js';
import { startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const SECRETS = {
  env: 'Env-Pass-7f3a91c2e5',
  dotenv: 'Dotenv-Pass-b81d44aa09',
  file: 'File-Pass-3c9e0d77f1',
};

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(p)));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

describe('secrets never leak', () => {
  const upstreams: Record<keyof typeof SECRETS, UpstreamRegistry | undefined> = { env: undefined, dotenv: undefined, file: undefined };
  let rc: RunningRegcache;
  const image = generateImage({ seed: 'secrets-image', layers: [2500] });
  const names = { env: 'docker.io', dotenv: 'ghcr.io', file: 'quay.io' } as const;

  beforeAll(async () => {
    for (const k of Object.keys(SECRETS) as Array<keyof typeof SECRETS>) {
      // Anonymous upstreams: distribution 2.8's proxy sends credentials only to token-auth upstreams
      // (Docker Hub, GHCR, Quay); against a Basic-auth upstream it sends none (see docs/security.md).
      const u = await startUpstreamRegistry();
      await seedUpstream(u, [{ repository: 'team/app', tag: 'v1', image }]);
      upstreams[k] = u;
    }
    rc = await startRegcache(
      {
        registries: {
          [names.env]: { upstream: upstreams.env!.url, username: 'user-env', password: '${HUB_PASSWORD}' },
          [names.dotenv]: { upstream: upstreams.dotenv!.url, username: 'user-dotenv', password: '${GHCR_PASSWORD}' },
          [names.file]: { upstream: upstreams.file!.url, username: 'user-file', passwordFile: 'secrets/quay' },
        },
      },
      {
        env: { HUB_PASSWORD: SECRETS.env },
        prepare: async (dir) => {
          await writeFile(path.join(dir, '.env'), `GHCR_PASSWORD=${SECRETS.dotenv}\n`);
          const { mkdir } = await import('node:fs/promises');
          await mkdir(path.join(dir, 'secrets'));
          await writeFile(path.join(dir, 'secrets', 'quay'), `${SECRETS.file}\n`, { mode: 0o600 });
        },
      },
    );
  });
  afterAll(async () => {
    await rc?.stop();
    await Promise.all(Object.values(upstreams).map((u) => u?.stop()));
  });

  const leaks = (text: string) => Object.values(SECRETS).filter((s) => text.includes(s));

  it('each cache got its password (0600 config) and pulls through every registry work', async () => {
    for (const k of Object.keys(SECRETS) as Array<keyof typeof SECRETS>) {
      const file = path.join(rc.dir, 'data', 'run', names[k].replace('.', '-'), 'config.yml');
      const text = await readFile(file, 'utf8');
      expect(text).toContain(`username: user-${k}`);
      expect(text).toContain(`password: ${SECRETS[k]}`);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    }
    for (const name of Object.values(names)) {
      const res = await getManifest(rc.routerUrl, 'team/app', 'v1', undefined, { headers: { host: `${name}.${rc.domain}` } });
      expect(res.status, name).toBe(200);
      expect(res.digest).toBe(image.manifestDigest);
    }
  });

  it('only the 0600 registry configs under dataDir hold a password', async () => {
    const dataDir = path.join(rc.dir, 'data');
    const holders: string[] = [];
    for (const file of await filesUnder(dataDir)) {
      const text = await readFile(file, 'latin1');
      if (leaks(text).length === 0) continue;
      holders.push(path.relative(dataDir, file));
      expect((await stat(file)).mode & 0o777, file).toBe(0o600);
    }
    expect(holders.sort()).toEqual(['run/docker-io/config.yml', 'run/ghcr-io/config.yml', 'run/quay-io/config.yml']);
    const nginxConf = await readFile(path.join(dataDir, 'nginx', 'nginx.conf'), 'utf8');
    expect(nginxConf).toContain(`${names.file}.${rc.domain}`);
    expect(leaks(nginxConf)).toEqual([]);
  });

  it('no API response holds a password', async () => {
    const routes = [
      '/api/v1/status',
      '/api/v1/vhosts',
      '/api/v1/events?limit=1000',
      ...Object.values(names).map((n) => `/api/v1/vhosts/${n}`),
      '/',
      '/metrics',
    ];
    for (const c of ['containerd', 'k3s', 'docker']) routes.push(`/api/v1/clients/${c}`);
    let answered = 0;
    for (const route of routes) {
      const res = await fetch(rc.adminUrl + route);
      const body = await res.text();
      if (res.status === 200) answered++;
      expect(leaks(body), route).toEqual([]);
    }
    expect(answered).toBeGreaterThanOrEqual(6);
    const status = await (await fetch(`${rc.adminUrl}/api/v1/status`)).json();
    const quay = status.config.applied.registries.find((r: { name: string }) => r.name === names.file);
    expect(quay.credentials).toEqual({ username: 'user-file', password: '[redacted]' });
  });

  it('the daemon log (debug level) holds no password, also when a config with secrets is rejected', async () => {
    const good = await readFile(rc.configFile, 'utf8');
    const before = rc.logs.length;
    // Invalid (unknown key) while the passwords are inline: the rejection is logged with its problems.
    await rc.writeConfig(good.replace('${HUB_PASSWORD}', SECRETS.env) + 'colour: blue\n');
    await waitFor(async () => rc.logs.slice(before).some((l) => l.includes('config rejected')), { what: 'rejection logged' });
    await rc.writeConfig(good);
    await waitFor(async () => (await (await fetch(`${rc.adminUrl}/api/v1/status`)).json()).lastError === null, { what: 'good config back' });
    expect(rc.logs.length).toBeGreaterThan(before + 1);
    expect(leaks(rc.logs.join('\n'))).toEqual([]);
  });

  it('a rotated passwordFile reaches its cache without a config edit', async () => {
    const rotated = 'File-Pass-rotated-6a1f0b';
    const config = path.join(rc.dir, 'data', 'run', 'quay-io', 'config.yml');
    await writeFile(path.join(rc.dir, 'secrets', 'quay.new'), `${rotated}\n`, { mode: 0o600 });
    await rename(path.join(rc.dir, 'secrets', 'quay.new'), path.join(rc.dir, 'secrets', 'quay'));
    await waitFor(async () => (await readFile(config, 'utf8')).includes(`password: ${rotated}`), {
      what: 'rotated password in the cache config',
      timeoutMs: 20_000,
    });
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    const res = await getManifest(rc.routerUrl, 'team/app', 'v1', undefined, { headers: { host: `${names.file}.${rc.domain}` } });
    expect(res.status).toBe(200);
    const status = await (await fetch(`${rc.adminUrl}/api/v1/status`)).text();
    expect(status).not.toContain(rotated);
    expect(rc.logs.join('\n')).not.toContain(rotated);
  });

  it('CLI output (validate, render, clients when present) holds no password', async () => {
    const cli = path.join(packageRoot(), 'dist', 'cli', 'main.js');
    const env = { ...process.env, HUB_PASSWORD: SECRETS.env };
    const run = async (args: string[]) => {
      try {
        const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, ...args], { env });
        return { code: 0, out: stdout + stderr };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, out: e.stdout + e.stderr };
      }
    };
    const validate = await run(['validate', '--config', rc.configFile]);
    expect(validate.code).toBe(0);
    const render = await run(['render', '--config', rc.configFile]);
    expect(render.code).toBe(0);
    expect(render.out).toContain('server {');
    expect(leaks(validate.out + render.out)).toEqual([]);
    for (const flavour of ['containerd', 'k3s', 'docker']) {
      const clients = await run(['clients', flavour, '--config', rc.configFile]);
      expect(leaks(clients.out), flavour).toEqual([]);
    }
  });
});
