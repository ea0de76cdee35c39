// A local process (another user on the machine, or a container on the host network) cannot pull
// past the router's htpasswd by talking to a cache directly, and nothing local can push into any
// cache: online caches are distribution proxies (which refuse pushes), offline ones are read-only.
// Nor can it read a private upstream's blobs from the egress nginx's cache on its loopback port.
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, requireBinary, waitFor } from '../../helpers/binaries.js';
import { cacheFilesWithKey } from '../../../src/integrity/nginx-cache-file.js';
import { bcryptEntry } from '../../helpers/htpasswd.js';
import { generateImage } from '../../helpers/image.js';
import { basicAuthHeader, getManifest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { registryGet } from '../../helpers/registry-pull.js';
import { startTokenUpstream, type TokenUpstream } from '../../helpers/token-upstream.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

/** A uid and gid no account and no nginx worker has: "some other local user". */
const STRANGER = 4242;

describe('caches are reachable only through nginx', () => {
  let upstream: UpstreamRegistry;
  let privateFront: TokenUpstream;
  let rc: RunningRegcache;
  const image = generateImage({ seed: 'local-bypass', layers: [2000] });
  const secret = generateImage({ seed: 'local-bypass-private', layers: [3000, 4000] });
  const puller = { username: 'puller', password: 'upstream-secret-7' };
  const alice = { username: 'alice', password: 'local-bypass-42' };
  let sockets: Record<string, string>;

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [
      { repository: 'library/app', tag: 'v1', image },
      { repository: 'team/private', tag: 'v1', image: secret },
    ]);
    // ghcr.io's upstream is private: its cache pulls with a token from the upstream's realm.
    privateFront = await startTokenUpstream(upstream.url, puller);
    // quay.io's upstream does not answer at start: its cache runs offline.
    const nobodyHome = `http://127.0.0.1:${await findFreePort()}`;
    rc = await startRegcache(
      {
        access: { htpasswd: 'htpasswd' },
        registries: {
          'docker.io': { upstream: upstream.url },
          'quay.io': { upstream: nobodyHome, egress: false },
          'ghcr.io': { upstream: privateFront.url, ...puller },
        },
      },
      { prepare: async (dir) => writeFile(path.join(dir, 'htpasswd'), await bcryptEntry(alice.username, alice.password)) },
    );
    const { body } = await adminJson(rc, '/api/v1/vhosts');
    sockets = Object.fromEntries(body.vhosts.map((v: { name: string; backend: { address: string } }) => [v.name, v.backend.address]));
  });
  afterAll(async () => {
    await rc?.stop();
    await privateFront?.stop();
    await upstream?.stop();
  });

  it('the router still needs the password, and serves with it', async () => {
    const host = { host: `docker.io.${rc.domain}` };
    expect((await getManifest(rc.routerUrl, 'library/app', 'v1', undefined, { headers: host })).status).toBe(401);
    const ok = await getManifest(rc.routerUrl, 'library/app', 'v1', undefined, { headers: { ...host, authorization: basicAuthHeader(alice) } });
    expect(ok.status).toBe(200);
    expect(ok.body.equals(image.manifest)).toBe(true);
  });

  it('no cache listens on a TCP port; each listens on a socket in a directory closed to others', async () => {
    for (const [name, address] of Object.entries(sockets)) {
      expect(address, name).toMatch(/^unix:\//);
      const dir = path.dirname(address.slice('unix:'.length));
      const mode = (await stat(dir)).mode & 0o7777;
      expect(mode & 0o007, `${dir} mode ${mode.toString(8)}`).toBe(0);
    }
    // The loopback ports the caches once listened on (still booked, for their debug listeners' neighbours) refuse.
    const book = JSON.parse(await readFile(path.join(rc.dir, 'data', 'state', 'ports.json'), 'utf8')) as Record<string, { port: number }>;
    for (const name of Object.keys(sockets)) {
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect(book[name]!.port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), resolve(false)));
        s.once('error', () => resolve(true));
      });
      expect(refused, `${name} port ${book[name]!.port}`).toBe(true);
    }
  });

  it('another local user cannot reach a cache socket to pull past htpasswd', async () => {
    const curl = requireBinary(['curl']);
    const setpriv = requireBinary(['setpriv']);
    for (const [name, address] of Object.entries(sockets)) {
      const socket = address.slice('unix:'.length);
      const run = await promisify(execFile)(setpriv, [
        `--reuid=${STRANGER}`,
        `--regid=${STRANGER}`,
        '--clear-groups',
        curl,
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--unix-socket',
        socket,
        'http://cache/v2/library/app/manifests/v1',
      ]).then(
        (r) => ({ code: 0, out: r.stdout }),
        (err: { code?: number; stdout?: string }) => ({ code: err.code ?? -1, out: err.stdout ?? '' }),
      );
      // curl exit 7: could not connect (permission denied on the way to the socket).
      expect(run, name).toEqual({ code: 7, out: '000' });
    }
  });

  it("a local process gets no private upstream's blob from the egress nginx's cache without the cache's token", async () => {
    const vhost = `ghcr.io.${rc.domain}`;
    for (const b of [secret.config, ...secret.layers]) {
      const r = await registryGet({ address: '127.0.0.1', port: rc.routerPort, vhost }, `/v2/team/private/blobs/${b.digest}`, {
        headers: { authorization: basicAuthHeader(alice) },
      });
      expect(r.status, b.digest).toBe(200);
    }
    // Keyed by the token, a miss is still one upstream download: distribution's two fetches of it share the token.
    for (const b of [secret.config, ...secret.layers]) {
      const gets = privateFront.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${b.digest}`) && r.status === 200);
      expect(gets.length, b.digest).toBe(1);
    }
    const book = JSON.parse(await readFile(path.join(rc.dir, 'data', 'state', 'ports.json'), 'utf8')) as Record<string, { egressPort?: number }>;
    const egress = { address: '127.0.0.1', port: book['ghcr.io']!.egressPort!, vhost: '127.0.0.1' };
    const layer = secret.layers[1]!;
    const blobPath = `/v2/team/private/blobs/${layer.digest}`;
    // The entry is there: the cache's own token gets it from the egress cache, with no upstream request.
    const before = privateFront.requests.length;
    const hit = await registryGet(egress, blobPath, { headers: { authorization: `Bearer ${privateFront.token}` } });
    expect(hit.status).toBe(200);
    expect(hit.body.equals(layer.data)).toBe(true);
    expect(privateFront.requests.slice(before)).toEqual([]);
    // Without the token, or with another, the request goes to the upstream, which refuses it.
    const tries: Array<Record<string, string>> = [{}, { authorization: 'Bearer guessed' }, { authorization: basicAuthHeader(alice) }];
    for (const headers of tries) {
      const miss = await registryGet(egress, blobPath, { headers });
      expect(miss.status, JSON.stringify(headers)).not.toBe(200);
      expect(miss.body.includes(layer.data.subarray(0, 64))).toBe(false);
    }
    expect(privateFront.requests.slice(before).map((r) => r.status)).toEqual([401, 401, 401]);
    // The key holds the token's hash, not the token; and once the registry committed a blob, its entries
    // go like an anonymous upstream's (found by key: the daemon never sees the token).
    const zone = path.join(rc.dir, 'data', 'egress-nginx', 'cache', 'blobs');
    const keysOf = async (digest: string) => {
      const keys: string[] = [];
      await cacheFilesWithKey(zone, (key) => (key.startsWith(`ghcr.io|${digest}|`) ? keys.push(key) > 0 : false));
      return keys;
    };
    for (const key of await keysOf(layer.digest)) {
      expect(key).toMatch(/^ghcr\.io\|sha256:[0-9a-f]{64}\|sha256:[0-9a-f]{64}$/);
      expect(key).not.toContain(privateFront.token);
    }
    for (const b of [secret.config, ...secret.layers])
      await waitFor(async () => ((await keysOf(b.digest)).length === 0 ? true : undefined), {
        timeoutMs: 30_000,
        what: `egress entries of ${b.digest} to go`,
      });
  });

  const overSocket = (socket: string, method: string, urlPath: string) =>
    new Promise<number>((resolve, reject) => {
      const req = httpRequest({ socketPath: socket, method, path: urlPath, headers: { host: 'cache', 'content-length': '0' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end();
    });

  it('nothing can push into any cache, not even root over the socket', async () => {
    const { body } = await adminJson(rc, '/api/v1/vhosts/quay.io');
    expect(body.upstreamReachable).toBe(false);
    for (const [name, address] of Object.entries(sockets)) {
      const socket = address.slice('unix:'.length);
      const started = await overSocket(socket, 'POST', '/v2/library/evil/blobs/uploads/');
      expect(started, name).toBe(405);
      // A proxy parses the (empty) manifest before refusing (400); read-only refuses first (405).
      expect([400, 405], name).toContain(await overSocket(socket, 'PUT', '/v2/library/evil/manifests/latest'));
      expect(await overSocket(socket, 'GET', '/v2/library/evil/tags/list'), name).toBe(404);
    }
  });
});
