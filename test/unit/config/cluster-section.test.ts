import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/parse.js';

const SECRET = 'a-cluster-secret-of-32-characters';

const parse = (cluster: string, opts: { env?: Record<string, string>; files?: Record<string, string> } = {}) =>
  parseConfig(`domain: registry.example.com\nlisten: 5000\n${cluster}\nregistries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n`, {
    source: '/etc/regcache/registries.yaml',
    env: opts.env ?? {},
    readFile: (p) => (opts.files?.[p] !== undefined ? { ok: true, text: opts.files[p]! } : { ok: false, message: 'no such file' }),
  });

const problems = (r: ReturnType<typeof parse>) => (r.ok ? [] : r.problems);

describe('cluster section', () => {
  it('is null without cluster:', () => {
    const r = parse('');
    expect(r.ok && r.value.cluster).toBeNull();
  });

  it('takes a static peer list, self and the secret from the environment', () => {
    const r = parse(
      'cluster:\n  listen: 0.0.0.0:5001\n  peers: [10.0.0.1:5001, "[FD00::2]:5001", 10.0.0.3:5001]\n  self: 10.0.0.1:5001\n  secret: ${REGCACHE_CLUSTER_SECRET}',
      { env: { REGCACHE_CLUSTER_SECRET: SECRET } },
    );
    expect(problems(r)).toEqual([]);
    expect(r.ok && r.value.cluster).toEqual({
      listen: { host: '0.0.0.0', port: 5001 },
      peers: { kind: 'static', addresses: ['10.0.0.1:5001', '[fd00::2]:5001', '10.0.0.3:5001'] },
      self: '10.0.0.1:5001',
      secret: SECRET,
    });
  });

  it('takes dns:<name>:<port> and a secretFile (trailing newline dropped)', () => {
    const r = parse('cluster:\n  listen: 5001\n  peers: dns:tasks.regcache:5001\n  secretFile: /run/secrets/regcache_cluster', {
      files: { '/run/secrets/regcache_cluster': `${SECRET}\n` },
    });
    expect(problems(r)).toEqual([]);
    expect(r.ok && r.value.cluster).toMatchObject({ peers: { kind: 'dns', name: 'tasks.regcache', port: 5001 }, self: null, secret: SECRET });
    expect(r.ok && r.value.referencedFiles).toContain('/run/secrets/regcache_cluster');
  });

  it('refuses bad peers, naming each', () => {
    const r = parse(`cluster:\n  listen: 5001\n  peers: [peer-one:5001, 10.0.0.1, 10.0.0.2:99999, 0.0.0.0:5001, 10.0.0.5:5001, 10.0.0.5:5001]\n  secret: ${SECRET}`);
    expect(problems(r).map((p) => p.path)).toEqual(['cluster.peers.0', 'cluster.peers.1', 'cluster.peers.2', 'cluster.peers.3']);
    expect(problems(r)[0]!.message).toMatch(/dns:<name>:<port>/);
    const dup = parse(`cluster:\n  listen: 5001\n  peers: [10.0.0.5:5001, 10.0.0.5:5001]\n  secret: ${SECRET}`);
    expect(problems(dup)).toEqual([{ path: 'cluster.peers.1', message: '10.0.0.5:5001 is listed twice' }]);
    for (const bad of ['tasks.regcache:5001', 'dns:tasks.regcache', 'dns:bad_name:5001', 'dns:tasks.regcache:0']) {
      expect(problems(parse(`cluster:\n  listen: 5001\n  peers: "${bad}"\n  secret: ${SECRET}`)).map((p) => p.path), bad).toEqual(['cluster.peers']);
    }
    expect(problems(parse(`cluster:\n  listen: 5001\n  peers: []\n  secret: ${SECRET}`)).map((p) => p.path)).toEqual(['cluster.peers']);
  });

  it('requires a secret of a safe shape, from one source', () => {
    expect(problems(parse('cluster:\n  listen: 5001\n  peers: [10.0.0.1:5001]'))).toEqual([
      { path: 'cluster.secret', message: expect.stringMatching(/is required/) },
    ]);
    expect(problems(parse('cluster:\n  listen: 5001\n  peers: [10.0.0.1:5001]\n  secret: short')).map((p) => p.path)).toEqual(['cluster.secret']);
    expect(problems(parse(`cluster:\n  listen: 5001\n  peers: [10.0.0.1:5001]\n  secret: "${SECRET}\\"; x"`)).map((p) => p.path)).toEqual([
      'cluster.secret',
    ]);
    // An unset variable is a problem of its own, not an empty secret.
    expect(problems(parse('cluster:\n  listen: 5001\n  peers: [10.0.0.1:5001]\n  secret: ${REGCACHE_CLUSTER_SECRET}')).length).toBeGreaterThan(0);
    expect(
      problems(parse(`cluster:\n  listen: 5001\n  peers: [10.0.0.1:5001]\n  secret: ${SECRET}\n  secretFile: /run/secrets/x`, { files: { '/run/secrets/x': SECRET } })),
    ).toEqual([{ path: 'cluster.secretFile', message: 'set secret or secretFile, not both' }]);
    expect(problems(parse('cluster:\n  listen: 5001\n  peers: [10.0.0.1:5001]\n  secretFile: /run/secrets/missing')).map((p) => p.path)).toEqual([
      'cluster.secretFile',
    ]);
  });

  it('refuses a self outside the static peers or off the listen port', () => {
    expect(problems(parse(`cluster:\n  listen: 5001\n  peers: [10.0.0.1:5001]\n  self: 10.0.0.9:5001\n  secret: ${SECRET}`))).toEqual([
      { path: 'cluster.self', message: '10.0.0.9:5001 is not one of cluster.peers (10.0.0.1:5001)' },
    ]);
    expect(problems(parse(`cluster:\n  listen: 5001\n  peers: [10.0.0.1:5002]\n  self: 10.0.0.1:5002\n  secret: ${SECRET}`)).map((p) => p.path)).toEqual([
      'cluster.self',
    ]);
  });

  it('gives the peer listener its own port', () => {
    expect(problems(parse(`cluster:\n  listen: 5000\n  peers: [10.0.0.1:5000]\n  secret: ${SECRET}`))).toEqual([
      { path: 'cluster.listen', message: "port 5000 is already listen's; the peer listener needs its own port" },
    ]);
    expect(problems(parse(`cluster:\n  listen: 127.0.0.1:80000\n  peers: [10.0.0.1:5001]\n  secret: ${SECRET}`)).map((p) => p.path)).toEqual([
      'cluster.listen',
    ]);
    expect(problems(parse(`cluster:\n  listen: 5001\n  peers: [10.0.0.1:5001]\n  secret: ${SECRET}\n  colour: blue`)).map((p) => p.path)).toEqual([
      'cluster.colour',
    ]);
  });
});
