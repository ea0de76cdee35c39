// Hostile config files against a running daemon (real nginx and registries): alias bombs, huge,
// binary and foreign files never take it down, the last good config keeps serving byte-for-byte,
// and what it reports stays small and never quotes the file. Plus the router's small items: the
// generation probe is the daemon's only, ?ns= is exact, a cache's 500 hides its internal URL.
import { createServer, request as httpRequest, type Server } from 'node:http';
import { rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { runCli } from '../../helpers/cli.js';
import { generateImage } from '../../helpers/image.js';
import { getBlob, getManifest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const aliasBomb = (levels: number, width: number) => {
  const lines = ['domain: registry.test', 'registries:', '  docker.io:', '    upstream: http://127.0.0.1:1', 'x0: &a0 [lol]'];
  for (let i = 1; i <= levels; i++) lines.push(`x${i}: &a${i} [${Array.from({ length: width }, () => `*a${i - 1}`).join(', ')}]`);
  return lines.join('\n') + '\n';
};

/** Hostile file contents: alias bombs, too big, too deep, binary, printable noise, other people's files. */
const hostileFile = fc.oneof(
  fc.tuple(fc.integer({ min: 3, max: 9 }), fc.integer({ min: 5, max: 12 })).map(([l, w]) => ({ kind: 'alias bomb', text: aliasBomb(l, w) })),
  fc.integer({ min: 600_000, max: 3_000_000 }).map((n) => ({ kind: 'huge', text: `x: "${'a'.repeat(n)}"\n` })),
  fc.integer({ min: 65, max: 5000 }).map((n) => ({ kind: 'deep', text: '['.repeat(n) })),
  fc.uint8Array({ minLength: 1, maxLength: 100_000 }).map((b) => ({ kind: 'binary', text: Buffer.concat([Buffer.from([0]), Buffer.from(b)]) })),
  fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 20_000 }).map((s) => ({ kind: 'noise', text: s })),
  fc
    .array(fc.stringMatching(/^[a-z]{1,12}$/), { minLength: 1, maxLength: 2000 })
    .map((keys) => ({ kind: 'foreign yaml', text: keys.map((k, i) => `${k}${i}: secret-value-${i}`).join('\n') })),
  fc
    .constantFrom('/etc/passwd', '/etc/group', '/etc/nginx/nginx.conf', '/etc/os-release', '/dev/zero', '/proc/self/environ', '/')
    .map((target) => ({ kind: 'symlink', target })),
);

describe('hostile config files against a running daemon', () => {
  let hub: UpstreamRegistry;
  let broken: Server;
  let rc: RunningRegcache;
  let good: string;
  const image = generateImage({ seed: 'hostile-config', layers: [3000] });

  beforeAll(async () => {
    hub = await startUpstreamRegistry();
    await seedUpstream(hub, [{ repository: 'library/app', tag: 'v1', image }]);
    // An upstream that answers the ping and drops every other connection: its cache answers blobs
    // with 500 and, in distribution's detail, the URL it fetched (its egress port, or here, with
    // egress off, the upstream itself).
    broken = createServer((req, res) => {
      res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/v2/' || req.url === '/v2') return void res.end('{}');
      req.socket.destroy();
    });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', () => r()));
    const brokenUrl = `http://127.0.0.1:${(broken.address() as { port: number }).port}`;
    // A short resync: a file that once killed the daemon did so on the periodic pass.
    rc = await startRegcache(
      { registries: { 'docker.io': { upstream: hub.url }, 'ghcr.io': { upstream: brokenUrl, egress: false } } },
      { resyncMs: 500 },
    );
    const { readFile } = await import('node:fs/promises');
    good = await readFile(rc.configFile, 'utf8');
  });
  afterAll(async () => {
    await rc?.stop();
    await hub?.stop();
    broken?.close();
  });

  const pullStillServes = async () => {
    const m = await getManifest(rc.routerUrl, 'library/app', 'v1', undefined, { headers: { host: `docker.io.${rc.domain}` } });
    expect(m.status).toBe(200);
    expect(m.body.equals(image.manifest)).toBe(true);
    const b = await getBlob(rc.routerUrl, 'library/app', image.layers[0]!.digest, { headers: { host: `docker.io.${rc.domain}` } });
    expect(b.body.equals(image.layers[0]!.data)).toBe(true);
  };

  it('stays up and keeps serving the last good config whatever the file holds', async () => {
    await pullStillServes();
    const { body: before } = await adminJson(rc, '/api/v1/status');
    await fc.assert(
      fc.asyncProperty(hostileFile, async (input) => {
        await rm(rc.configFile, { force: true, recursive: true });
        if ('target' in input) await symlink(input.target, rc.configFile);
        else await writeFile(rc.configFile, input.text);
        const reload = await fetch(`${rc.adminUrl}/api/v1/reload`, { method: 'POST' });
        expect(reload.status, input.kind).toBe(422);
        const text = await reload.text();
        const result = JSON.parse(text);
        expect(result.problems.length, input.kind).toBeGreaterThan(0);
        expect(result.problems.length, input.kind).toBeLessThanOrEqual(21);
        expect(text.length, input.kind).toBeLessThan(16_000);
        // Nothing of the file comes back: no passwd lines, no values of a foreign YAML.
        expect(text, input.kind).not.toMatch(/root:x:0|secret-value|nologin|sendfile|PRETTY_NAME|PATH=/);
        const status = await adminJson(rc, '/api/v1/status');
        expect(status.body.generation).toBe(before.generation);
        expect(status.body.lastError.problems.length).toBeLessThanOrEqual(21);
        expect((await fetch(`${rc.adminUrl}/readyz`)).status).toBe(200);
      }),
      { numRuns: 25, seed: 1717 },
    );
    // Several periodic resyncs pass over the last hostile file.
    await new Promise((r) => setTimeout(r, 2000));
    expect((await fetch(`${rc.adminUrl}/healthz`)).status).toBe(200);
    const page = await fetch(`${rc.adminUrl}/`);
    expect((await page.text()).length).toBeLessThan(200_000);
    await pullStillServes();
    expect(rc.logs.join('\n')).not.toMatch(/Excessive alias count|root:x:0|secret-value/);
  });

  it('an alias bomb in the watched file is rejected, and the good file applies again', async () => {
    await rm(rc.configFile, { force: true, recursive: true });
    await writeFile(rc.configFile, aliasBomb(8, 10));
    await waitFor(async () => /alias/.test((await adminJson(rc, '/api/v1/status')).body.lastError?.message ?? ''), {
      what: 'lastError for the alias bomb',
    });
    await pullStillServes();
    await writeFile(rc.configFile, good);
    await waitFor(async () => (await adminJson(rc, '/api/v1/status')).body.lastError === null, { what: 'the good file applied again' });
    await pullStillServes();
  });

  it('regcache validate answers a bomb, a binary and a foreign file with short lines, never a stack trace', async () => {
    const dir = path.join(rc.dir, 'validate');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    const cases: Array<[string, string | Buffer]> = [
      ['bomb.yaml', aliasBomb(9, 12)],
      ['binary.yaml', Buffer.from([0, 1, 2, 255, 254, 10, 13])],
      ['compose.yaml', 'services:\n  web:\n    image: secret-value\n'],
    ];
    for (const [name, content] of cases) {
      await writeFile(path.join(dir, name), content);
      const r = await runCli(['validate', '--config', path.join(dir, name)]);
      expect(r.code, name).toBe(1);
      expect(r.stderr, name).not.toMatch(/\n\s+at |Error:|secret-value/);
      expect(r.stderr.trim().split('\n').length, name).toBeLessThanOrEqual(21);
    }
    await symlink('/etc/passwd', path.join(dir, 'passwd.yaml'));
    const passwd = await runCli(['validate', '--config', path.join(dir, 'passwd.yaml')]);
    expect(passwd.code).toBe(1);
    expect(passwd.stderr).not.toMatch(/root|nologin/);
  });

  const probe = (method: string, localAddress: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: rc.routerPort, path: '/__regcache/generation', method, localAddress, agent: false },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('the generation probe answers only the daemon, and never POST', async () => {
    const { body } = await adminJson(rc, '/api/v1/status');
    const own = await probe('GET', '127.0.0.1');
    expect(own.status).toBe(200);
    expect(own.body.trim()).toBe(String(body.generation));
    // Another address (a client on the network, played by 127.0.0.9) sees nothing.
    const other = await probe('GET', '127.0.0.9');
    expect(other.status).toBe(404);
    expect(other.body).not.toContain(String(body.generation) + '\n');
    expect((await probe('POST', '127.0.0.1')).status).toBe(405);
    expect((await probe('DELETE', '127.0.0.1')).status).toBe(405);
  });

  it('?ns= matches exactly: another case selects nothing', async () => {
    const viaNs = (ns: string) => getManifest(rc.routerUrl, 'library/app', `v1?ns=${ns}`, undefined, { headers: { host: '127.0.0.1' } });
    expect((await viaNs('docker.io')).status).toBe(200);
    for (const ns of ['DOCKER.IO', 'Docker.io', 'docker.IO']) {
      const res = await viaNs(ns);
      expect(res.status, ns).toBe(404);
      expect(JSON.parse(res.body.toString()).errors[0].code, ns).toBe('NAME_UNKNOWN');
    }
  });

  it("a cache's 500 for a blob does not show its internal upstream URL", async () => {
    const res = await getBlob(rc.routerUrl, 'library/app', image.layers[0]!.digest, { headers: { host: `ghcr.io.${rc.domain}` } });
    expect(res.status).toBe(502);
    const text = res.body.toString();
    expect(text).not.toMatch(/127\.0\.0\.1|http:\/\//);
    expect(JSON.parse(text).errors[0].code).toBe('UNAVAILABLE');
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });
});
