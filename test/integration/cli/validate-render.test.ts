import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../helpers/binaries.js';
import { runCli } from '../../helpers/cli.js';
import { execFileSync } from 'node:child_process';

describe('regcache validate / render', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-cli-'));
    await writeFile(
      file('good.yaml'),
      'domain: registry.example.com\nregistries:\n  docker.io:\n    upstream: ${HUB:-https://registry-1.docker.io}\n    password: ${HUB_PASSWORD:-}\n',
    );
    await writeFile(
      file('bad.yaml'),
      'domain: registry.example.com\nlisten: "0"\nregistries:\n  ghcr.io:\n    upstream: "https://ghcr.io;"\n  quay.io:\n    upstream: https://quay.io\n    typo: 1\n',
    );
    await writeFile(file('.env'), 'HUB=https://mirror.example.net\n');
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('validate exits 0 for a good file', async () => {
    const r = await runCli(['validate', '--config', file('good.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok (1 registries)');
  });

  it('validate exits 1 with one line per problem naming the field path, no stack trace', async () => {
    const r = await runCli(['validate', '--config', file('bad.yaml')]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n').sort();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^listen: /);
    expect(lines[1]).toMatch(/^registries\.ghcr\.io\.upstream: /);
    expect(lines[2]).toBe('registries.quay.io.typo: unknown key');
    expect(r.stderr).not.toMatch(/\bat \S+\.js:\d+/);
  });

  it('validate prints warnings, e.g. a cache whose redirects go unchecked (egress: false), and still exits 0', async () => {
    await writeFile(file('direct.yaml'), 'domain: registry.example.com\nregistries:\n  quay.io:\n    upstream: https://quay.io\n    egress: false\n');
    const r = await runCli(['validate', '--config', file('direct.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /^warning: registries\.quay\.io\.egress: quay\.io fetches from its upstream directly: distribution follows any redirect/,
    );
    expect((await runCli(['validate', '--config', file('good.yaml')])).stderr).toBe('');
  });

  it('validate reports a missing file in one line', async () => {
    const r = await runCli(['validate', '--config', file('nope.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^cannot read .*nope\.yaml: file not found$/);
  });

  it('falls back to REGCACHE_CONFIG', async () => {
    const r = await runCli(['validate'], { env: { REGCACHE_CONFIG: file('good.yaml') } });
    expect(r.code).toBe(0);
  });

  /** Renders `name` with the CLI and runs the real `nginx -t` on the output (paths moved under dir). */
  async function renderAndTest(name: string): Promise<string> {
    const r = await runCli(['render', '--config', file(name)]);
    expect(r.code, r.stderr).toBe(0);
    const rendered = file(`${name}.conf`);
    await writeFile(rendered, r.stdout.replaceAll(path.join(dir, 'data'), dir));
    const nginx = requireBinary(['nginx'], 'REGCACHE_NGINX_BIN');
    const { mkdirSync } = await import('node:fs');
    for (const sub of [
      'logs',
      'nginx/cache',
      'nginx/temp/client_body',
      'nginx/temp/proxy',
      'nginx/temp/fastcgi',
      'nginx/temp/uwsgi',
      'nginx/temp/scgi',
      'nginx/logs',
    ]) {
      mkdirSync(path.join(dir, sub), { recursive: true });
    }
    try {
      execFileSync(nginx, ['-t', '-q', '-p', dir, '-e', path.join(dir, 'logs/error.log'), '-c', rendered], { stdio: 'pipe' });
    } catch (err) {
      throw new Error(`nginx -t failed: ${(err as { stderr?: Buffer }).stderr?.toString()}`);
    }
    return r.stdout;
  }

  it('render prints an nginx config that nginx -t accepts, with .env values expanded', async () => {
    const out = await renderAndTest('good.yaml');
    expect(out).toContain('"docker.io.registry.example.com" cache_docker_io;');
  });

  it('renders long host names (up to DNS limits) that nginx -t accepts', async () => {
    // nginx's default map and server-name hash buckets reject names past ~50 characters.
    const label = (c: string) => c.repeat(63);
    const longAlias = [label('a'), label('b'), label('c'), 'example'].join('.');
    await writeFile(
      file('long.yaml'),
      `domain: platform-engineering.internal.example-corporation.example\nregistries:\n  registry.k8s.io:\n    upstream: https://registry.k8s.io\n    aliases: [${longAlias}]\n`,
    );
    const out = await renderAndTest('long.yaml');
    expect(out).toContain(longAlias);
  });

  it('renders 1000 registries that nginx -t accepts (the placeholder comment stays in short lines)', async () => {
    const regs = Array.from(
      { length: 1000 },
      (_, i) => `  registry-number-${i}.example.com:\n    upstream: https://registry-number-${i}.example.com\n`,
    ).join('');
    await writeFile(file('thousand.yaml'), `domain: registry.example.com\nregistries:\n${regs}`);
    const out = await renderAndTest('thousand.yaml');
    expect(out.split('\n').every((line) => line.length < 1024)).toBe(true);
    expect(out).toContain('for 1000 registries');
  });

  it('renders a cluster node (ring, peer listener) that nginx -t accepts; a node not among its peers is refused', async () => {
    const cluster = (self: string) =>
      `domain: registry.example.com\ncluster:\n  listen: 127.0.0.1:15001\n  peers: [127.0.0.1:15001, 10.9.9.9:15001]\n${self}  secret: cli-render-secret-0123456789\nregistries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n`;
    await writeFile(file('cluster.yaml'), cluster(''));
    const out = await renderAndTest('cluster.yaml');
    expect(out).toContain('upstream regcache_ring {');
    expect(out).toContain('server 10.9.9.9:15001 max_fails=2');
    await writeFile(file('cluster-lost.yaml'), cluster('').replace('127.0.0.1:15001, ', '10.9.9.8:15001, '));
    const lost = await runCli(['render', '--config', file('cluster-lost.yaml')]);
    expect(lost.code).toBe(1);
    expect(lost.stdout).toBe('');
    expect(lost.stderr).toMatch(/cluster\.self: this node is not among the peers/);
  });

  it('render prints nothing to stdout and exits 1 for an invalid file', async () => {
    const r = await runCli(['render', '--config', file('bad.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('registries.ghcr.io.upstream');
  });

  it('runs as `npx regcache` through node_modules/.bin (linked and executable)', async () => {
    const bin = path.resolve('node_modules', '.bin', 'regcache');
    const { execFile } = await import('node:child_process');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(bin, ['validate', '--config', file('good.yaml')], (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    expect(out).toContain('ok (1 registries)');
  });

  it('rejects unknown commands and options with usage, exit 2', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(2);
    const r = await runCli(['validate', '--nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--nope');
  });
});
