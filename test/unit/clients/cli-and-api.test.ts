import express from 'express';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli } from '../../../src/cli/run-cli.js';
import type { RegcacheConfig } from '../../../src/config/model.js';
import { clientRoutes } from '../../../src/http/routes/client-routes.js';
import { configFrom, TWO_REGISTRIES } from './config-fixture.js';

function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { text: () => string };
  stream.text = () => chunks.join('');
  return stream;
}

describe('regcache clients (CLI)', () => {
  let dir: string;
  let configFile: string;
  const cli = async (...args: string[]) => {
    const stdout = sink();
    const stderr = sink();
    const code = await runCli(args, { env: {}, stdout, stderr });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regcache-clients-cli-'));
    configFile = join(dir, 'registries.yaml');
    await writeFile(configFile, TWO_REGISTRIES);
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('writes DIR/<registry>/hosts.toml with --out', async () => {
    const out = join(dir, 'certs.d');
    const result = await cli('clients', 'containerd', '--config', configFile, '--out', out);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`wrote ${join(out, 'docker.io/hosts.toml')}\nwrote ${join(out, 'ghcr.io/hosts.toml')}\n`);
    const ghcr = parseToml(await readFile(join(out, 'ghcr.io', 'hosts.toml'), 'utf8'));
    expect(ghcr).toEqual({ server: 'https://ghcr.io', host: { 'http://ghcr.io.registry.example.com:5000': { capabilities: ['pull', 'resolve'] } } });
  });

  it('prints the k3s document without --out, honouring --mode and --endpoint', async () => {
    const result = await cli('clients', 'k3s', '-c', configFile, '--mode', 'single', '--endpoint', 'http://registry-cache:5000');
    expect(result.code).toBe(0);
    expect(parseYaml(result.stdout).mirrors['ghcr.io']).toEqual({ endpoint: ['http://registry-cache:5000'] });
  });

  it('prints the docker fragment; warnings go to stderr', async () => {
    const result = await cli('clients', 'docker', '-c', configFile);
    expect(JSON.parse(result.stdout)['registry-mirrors']).toEqual(['http://docker.io.registry.example.com:5000']);
    expect(result.stderr).toMatch(/^warning: dockerd mirrors docker\.io only/);
  });

  it('k3d: writes registries.yaml under --out and prints the command using it', async () => {
    const out = join(dir, 'k3d');
    const result = await cli('clients', 'k3d', '-c', configFile, '--out', out, '--network', 'registry-cache');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n').at(-1)).toBe(
      `k3d cluster create regcache --registry-config ${join(out, 'registries.yaml')} --network registry-cache`,
    );
    expect(parseYaml(await readFile(join(out, 'registries.yaml'), 'utf8')).mirrors['docker.io']).toBeDefined();
  });

  it('names the bad flag and exits 2', async () => {
    const result = await cli('clients', 'containerd', '-c', configFile, '--mode', 'wide', '--endpoint', 'registry-cache:5000');
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'regcache clients: --mode: must be vhost or single (got "wide")\nregcache clients: --endpoint: must use http or https\n',
    );
    expect(result.stdout).toBe('');
  });

  it('needs exactly one known client and a valid config', async () => {
    expect((await cli('clients', '-c', configFile)).code).toBe(2);
    expect((await cli('clients', 'rkt', '-c', configFile)).stderr).toMatch(/name one client: containerd, k3s, docker, podman, k3d/);
    const missing = await cli('clients', 'k3s', '-c', join(dir, 'nope.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/file not found/);
  });
});

describe('GET /api/v1/clients/*', () => {
  let server: Server;
  let base: string;
  let applied: RegcacheConfig | null = null;

  beforeAll(async () => {
    const app = express();
    app.use('/api/v1', clientRoutes({ appliedConfig: () => applied }));
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('503 before a config is applied', async () => {
    applied = null;
    const res = await fetch(`${base}/clients/k3s`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'no configuration applied yet' });
  });

  it('returns the documents as JSON, with mode and endpoint', async () => {
    applied = configFrom(TWO_REGISTRIES);
    const res = await fetch(`${base}/clients/containerd?mode=single&endpoint=http://registry-cache:5000`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ client: 'containerd', mode: 'single', endpoint: 'http://registry-cache:5000', warnings: [] });
    expect(body.files.map((f: { path: string }) => f.path)).toEqual(['docker.io/hosts.toml', 'ghcr.io/hosts.toml']);
    expect(parseToml(body.files[0].content).host).toEqual({ 'http://registry-cache:5000': { capabilities: ['pull', 'resolve'] } });
  });

  it('format=text gives the file itself', async () => {
    applied = configFrom(TWO_REGISTRIES);
    const res = await fetch(`${base}/clients/docker?format=text`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(JSON.parse(await res.text())).toEqual({
      'registry-mirrors': ['http://docker.io.registry.example.com:5000'],
      'insecure-registries': ['docker.io.registry.example.com:5000'],
    });
  });

  it('k3d: the command line and the registries.yaml it uses', async () => {
    applied = configFrom(TWO_REGISTRIES);
    const body = await (await fetch(`${base}/clients/k3d?cluster=dev&network=registry-cache&mode=single&endpoint=http://registry-cache:5000`)).json();
    expect(body.command).toBe('k3d cluster create dev --registry-config registries.yaml --network registry-cache');
    expect(parseYaml(body.files[0].content).mirrors['docker.io'].endpoint).toEqual(['http://registry-cache:5000']);
    const text = await (await fetch(`${base}/clients/k3d?format=text`)).text();
    expect(text).toBe('k3d cluster create regcache --registry-config registries.yaml\n');
  });

  it.each([
    ['/clients/k3s?mode=wide', 'mode: must be vhost or single (got "wide")'],
    ['/clients/k3s?endpoint=ftp://x', 'endpoint: must use http or https'],
    ['/clients/k3s?skipVerify=perhaps', 'skipVerify: must be true or false (got "perhaps")'],
    ['/clients/k3s?colour=red', 'colour: unknown parameter'],
    ['/clients/k3s?mode=vhost&mode=single', 'mode: give it once'],
    ['/clients/k3s?format=xml', 'format: must be json or text (got "xml")'],
    ['/clients/k3d?hostIp=example', 'hostIp: must be an IPv4 address (got "example")'],
  ])('400 naming the parameter: %s', async (path, message) => {
    applied = configFrom(TWO_REGISTRIES);
    const res = await fetch(base + path);
    expect(res.status).toBe(400);
    expect((await res.json()).error).toContain(message);
  });

  it('404 for an unknown client; the list of clients', async () => {
    const res = await fetch(`${base}/clients/rkt`);
    expect(res.status).toBe(404);
    expect((await res.json()).error).toMatch(/no client named rkt/);
    expect(await (await fetch(`${base}/clients`)).json()).toEqual({ clients: ['containerd', 'k3s', 'docker', 'podman', 'k3d'] });
  });
});
