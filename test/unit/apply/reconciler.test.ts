import { describe, expect, it } from 'vitest';
import { NginxApplyFailed, NginxConfigRejected, type NginxController } from '../../../src/apply/nginx/nginx-controller.js';
import { createEgressController } from '../../../src/apply/egress/egress-controller.js';
import { createReconciler, type ReconcilerDeps } from '../../../src/apply/reconciler.js';
import type { CacheInstance, CacheRuntime } from '../../../src/apply/runtime/cache-runtime.js';
import { parseConfig } from '../../../src/config/parse.js';
import type { Result } from '../../../src/config/problems.js';
import type { LoadedConfig } from '../../../src/config/load.js';
import { createLogger } from '../../../src/log.js';
import { createDaemonState } from '../../../src/state/daemon-state.js';
import { createEventLog } from '../../../src/state/event-log.js';
import type { HealthMonitor } from '../../../src/state/health-monitor.js';
import { FIRST_ACCEPT_LINE_ONLY, type AcceptSupport } from '../../../src/apply/nginx/nginx-features.js';
import { createSystemClock } from '../../../src/util/clock.js';

/** In-memory runtime: records what the reconciler asked for. */
function fakeRuntime(failEnsure?: (upstream: string) => boolean, failRemove?: (name: string) => boolean) {
  const caches = new Map<string, CacheInstance>();
  const calls: string[] = [];
  let port = 20000;
  const runtime: CacheRuntime = {
    kind: 'process',
    list: async () => [...caches.values()],
    ensure: async (spec) => {
      calls.push(`ensure ${spec.name}`);
      if (failEnsure?.(spec.upstream)) throw new Error('registry exited (code 1)');
      const existing = caches.get(spec.name);
      const inst = {
        name: spec.name,
        specHash: spec.specHash,
        address: existing?.address ?? `127.0.0.1:${port++}`,
        debugAddress: null,
        state: 'running' as const,
        restarts: 0,
        lastError: null,
      };
      caches.set(spec.name, inst);
      return inst;
    },
    remove: async (name) => {
      calls.push(`remove ${name}`);
      if (failRemove?.(name)) throw new Error('registry did not exit (SIGKILL refused)');
      caches.delete(name);
    },
    onEvent: () => () => undefined,
    stop: async () => undefined,
  };
  return { runtime, calls };
}

function fakeNginx(opts: { reject?: (config: string) => boolean; failReload?: (config: string) => boolean; adopt?: number } = {}) {
  let applied: string | null = null;
  const applies: number[] = [];
  const controller: NginxController = {
    apply: async (config, generation) => {
      if (opts.reject?.(config)) throw new NginxConfigRejected('nginx: [emerg] test rejection');
      // Like the real controller: a reload that does not take leaves the last good bytes applied.
      if (opts.failReload?.(config))
        throw new NginxApplyFailed('reload', 'nginx: [emerg] bind() to 127.0.0.1:80 failed (98: Address already in use)');
      applied = config;
      applies.push(generation);
      return { changed: true };
    },
    test: async (config) => {
      if (opts.reject?.(config)) throw new NginxConfigRejected('nginx: [emerg] test rejection');
    },
    adopt: async () => {
      if (opts.adopt === undefined) return null;
      applied = `generation ${opts.adopt}\n`;
      return opts.adopt;
    },
    applied: () => applied,
    servedGeneration: async () => applies.at(-1) ?? null,
    stop: async () => undefined,
  };
  return { controller, applies };
}

const healthyMonitor: HealthMonitor = {
  health: () => ({
    cache: { ok: true, status: 200, error: null },
    cacheCheckedAt: 0,
    upstream: { ok: true, status: 401, error: null },
    upstreamCheckedAt: 0,
  }),
  checkCache: async () => ({ ok: true, status: 200, error: null }),
  ensureUpstreamChecked: async () => ({ ok: true, status: 401, error: null }),
  recheckUpstream: () => undefined,
  onUpstreamChange: () => undefined,
  onCacheChange: () => undefined,
  start: () => undefined,
  stop: () => undefined,
};

interface EgressSetup {
  /** The egress nginx rejects every config (its apply calls are recorded in `calls` either way). */
  rejectEgress?: boolean;
}

function setup(
  opts: {
    reject?: (config: string) => boolean;
    failReload?: (config: string) => boolean;
    adopt?: number;
    failEnsure?: (upstream: string) => boolean;
    failRemove?: (name: string) => boolean;
    egress?: EgressSetup;
    clusterMembership?: ReconcilerDeps['clusterMembership'];
    workerUser?: ReconcilerDeps['nginxWorkerUser'];
    accept?: AcceptSupport;
    diskFull?: () => string | null;
    listenCheck?: ReconcilerDeps['listenCheck'];
  } = {},
) {
  let text = '';
  const loadConfig = async (): Promise<Result<LoadedConfig>> => {
    const r = parseConfig(text, { source: '/srv/registries.yaml', env: {} });
    return r.ok ? { ok: true, value: { config: r.value, text } } : r;
  };
  const { runtime, calls } = fakeRuntime(opts.failEnsure, opts.failRemove);
  const nginx = fakeNginx(opts);
  const egressNginx = fakeNginx({ reject: () => opts.egress?.rejectEgress === true });
  const egressApply = egressNginx.controller.apply;
  egressNginx.controller.apply = async (config, generation) => {
    calls.push(`egress nginx ${generation}`);
    return egressApply(config, generation);
  };
  let nextEgressPort = 41000;
  const egressPorts = new Map<string, number>();
  const state = createDaemonState('/srv/registries.yaml');
  const events = createEventLog(createSystemClock());
  const logger = createLogger({ level: 'silent' });
  const reconcile = createReconciler({
    loadConfig,
    runtime,
    nginx: nginx.controller,
    nginxPaths: { pid: '/p', errorLog: '/e', accessLog: '/a', temp: '/t', cache: '/c' },
    render: (view) =>
      `generation ${view.generation}\n${view.routes.map((r) => `${r.name} ${r.address}`).join('\n')}${view.cluster ? `\nring ${view.cluster.peers.join(' ')}` : ''}` +
      `\nuser ${view.user}\naccept ${view.accept.variable}${view.accept.js ? ` js ${view.accept.js.module}` : ''}${view.diskFull ? `\ndisk full ${view.diskFull.message}` : ''}`,
    clusterMembership: opts.clusterMembership ?? (async () => ({ ok: true, value: null })),
    nginxWorkerUser: opts.workerUser ?? (async (configured) => configured),
    nginxAccept: opts.accept ?? FIRST_ACCEPT_LINE_ONLY,
    diskFull: opts.diskFull ?? (() => null),
    egressMarkers: null,
    listenCheck: opts.listenCheck ?? null,
    blobRoot: null,
    health: healthyMonitor,
    state,
    events,
    clock: createSystemClock(),
    logger,
    egress: createEgressController({
      egress: opts.egress
        ? {
            loopback: true,
            system: async () => ({ resolvers: ['10.0.0.2'], caFile: '/etc/ssl/certs/ca-certificates.crt' }),
            portFor: async (name) => egressPorts.get(name) ?? (egressPorts.set(name, nextEgressPort++), egressPorts.get(name)!),
            nginx: egressNginx.controller,
            paths: { pid: '/ep', errorLog: '/ee', accessLog: '/ea', temp: '/et', cache: '/ec' },
            render: (view) => `egress ${view.generation}\n${view.servers.map((s) => `${s.listen} ${s.origin}`).join('\n')}`,
            controlPort: 40999,
            workerUser: async (configured) => configured,
            egressJs: null,
            dnsFilter: null,
          }
        : null,
      state,
      events,
      logger,
    }),
  });
  const write = (registries: Record<string, string>) => {
    text = `domain: example.com\nregistries:\n${Object.entries(registries)
      .map(([n, u]) => `  ${n}:\n    upstream: ${u}\n`)
      .join('')}`;
  };
  return { reconcile, calls, runtime, nginx, egressNginx, state, events, write, setText: (t: string) => (text = t) };
}

describe('reconciler with egress', () => {
  it('serves a cache its egress before it starts, and reloads the egress nginx only when caches or upstreams change', async () => {
    const t = setup({ egress: {} });
    t.write({ 'docker.io': 'https://a.example' });
    expect((await t.reconcile('start')).outcome).toBe('applied');
    expect(t.calls).toEqual(['egress nginx 1', 'ensure docker.io']);
    expect(t.egressNginx.controller.applied()).toBe('egress 1\n127.0.0.1:41000 https://a.example');
    expect(t.state.egress).toEqual(new Map([['docker.io', '127.0.0.1:41000']]));
    // An alias is the router's business only.
    t.setText('domain: example.com\nregistries:\n  docker.io:\n    upstream: https://a.example\n    aliases: [hub.example.com]\n');
    await t.reconcile('alias');
    expect(t.calls).toEqual(['egress nginx 1', 'ensure docker.io']);
    // A new upstream: the egress nginx first, then the replaced cache.
    t.write({ 'docker.io': 'https://b.example' });
    await t.reconcile('upstream');
    expect(t.calls).toEqual(['egress nginx 1', 'ensure docker.io', 'egress nginx 2', 'ensure docker.io']);
  });

  it('starts nothing when nginx rejects the egress config, and says it was the egress', async () => {
    const t = setup({ egress: { rejectEgress: true } });
    t.write({ 'docker.io': 'https://a.example' });
    const r = await t.reconcile('start');
    expect(r.outcome).toBe('rejected');
    expect(r.problems[0]!.path).toBe('egress');
    // Rejected by its nginx -t, before anything went live.
    expect(t.calls).toEqual([]);
    expect(t.nginx.applies).toEqual([]);
  });

  it('goes direct for a registry with egress: false', async () => {
    const t = setup({ egress: {} });
    t.setText('domain: example.com\nregistries:\n  docker.io:\n    upstream: https://a.example\n    egress: false\n');
    await t.reconcile('start');
    expect(t.calls).toEqual(['ensure docker.io']);
    expect(t.state.egress).toEqual(new Map());
  });
});

describe('reconciler with a cluster', () => {
  const CLUSTER = 'cluster:\n  listen: 5001\n  peers: dns:tasks.regcache:5001\n  secret: a-secret-of-sixteen-chars\n';
  it('renders the membership of the pass, and keeps the last good ring when membership has problems', async () => {
    let answer: Awaited<ReturnType<NonNullable<ReconcilerDeps['clusterMembership']>>> = {
      ok: true,
      value: { members: ['10.0.0.1:5001', '10.0.0.2:5001'], self: '10.0.0.1:5001' },
    };
    const t = setup({ clusterMembership: async () => answer });
    t.setText(`domain: example.com\n${CLUSTER}registries:\n  docker.io:\n    upstream: https://a.example\n`);
    expect((await t.reconcile('start')).outcome).toBe('applied');
    expect(t.nginx.controller.applied()).toContain('ring 10.0.0.1:5001 10.0.0.2:5001');
    expect(t.state.cluster?.self).toBe('10.0.0.1:5001');
    // A third task answers: a new ring goes live.
    answer = { ok: true, value: { members: ['10.0.0.1:5001', '10.0.0.2:5001', '10.0.0.3:5001'], self: '10.0.0.1:5001' } };
    expect((await t.reconcile('cluster peers changed')).outcome).toBe('applied');
    expect(t.nginx.controller.applied()).toContain('ring 10.0.0.1:5001 10.0.0.2:5001 10.0.0.3:5001');
    // This node no longer among the answers: rejected like a config error, the last ring keeps serving.
    answer = { ok: false, problems: [{ path: 'cluster.self', message: 'this node is not among the peers' }] };
    const r = await t.reconcile('cluster peers changed');
    expect(r.outcome).toBe('rejected');
    expect(r.problems).toEqual([{ path: 'cluster.self', message: 'this node is not among the peers' }]);
    expect(t.nginx.controller.applied()).toContain('ring 10.0.0.1:5001 10.0.0.2:5001 10.0.0.3:5001');
    expect(t.state.cluster?.members).toHaveLength(3);
  });
});

describe('reconciler', () => {
  it('starts caches before routing and reloads only when the rendering changes', async () => {
    const t = setup();
    t.write({ 'docker.io': 'https://a.example' });
    expect((await t.reconcile('start')).outcome).toBe('applied');
    expect(t.calls).toEqual(['ensure docker.io']);
    expect(t.nginx.applies).toEqual([1]);
    expect(t.state.routed).toEqual(new Set(['docker.io']));
    expect((await t.reconcile('again')).outcome).toBe('unchanged');
    expect(t.nginx.applies).toEqual([1]);
  });

  it('keeps the last good state and records the problems when the file is invalid', async () => {
    const t = setup();
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('start');
    t.setText('domain: example.com\nregistries:\n  docker.io:\n    upstream: nope\n');
    const r = await t.reconcile('edit');
    expect(r.outcome).toBe('rejected');
    expect(r.problems[0]!.path).toBe('registries.docker.io.upstream');
    expect(t.state.lastError?.problems[0]!.path).toBe('registries.docker.io.upstream');
    expect(t.state.generation).toBe(1);
    expect(t.calls).toEqual(['ensure docker.io']);
  });

  it('removes caches only after they are unrouted', async () => {
    const t = setup();
    t.write({ 'docker.io': 'https://a.example', 'ghcr.io': 'https://b.example' });
    await t.reconcile('start');
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('edit');
    expect(t.nginx.applies).toEqual([1, 2]);
    expect(t.calls.at(-1)).toBe('remove ghcr.io');
    expect(t.nginx.controller.applied()).not.toContain('ghcr.io');
  });

  it('starts nothing when nginx -t rejects the router config', async () => {
    const t = setup({ reject: (config) => config.includes('quay.io') });
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('start');
    t.write({ 'docker.io': 'https://a.example', 'quay.io': 'https://q.example' });
    const r = await t.reconcile('edit');
    expect(r.outcome).toBe('rejected');
    expect(r.message).toContain('test rejection');
    expect(t.calls).toEqual(['ensure docker.io']);
    expect(t.state.routed).toEqual(new Set(['docker.io']));
    expect(t.state.lastReload?.result).toBe('failed');
  });

  it('rejects live changes to settings that need a restart', async () => {
    const t = setup();
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('start');
    t.setText('domain: example.com\ndataDir: /elsewhere\nregistries:\n  docker.io:\n    upstream: https://a.example\n');
    const r = await t.reconcile('edit');
    expect(r.outcome).toBe('rejected');
    expect(r.problems).toEqual([{ path: 'dataDir', message: expect.stringContaining('restart') }]);
  });
});

describe('reconciler and what the nginx driver resolves', () => {
  it('renders the user the driver resolves from nginx.user, asking it on every pass', async () => {
    const asked: Array<string | null> = [];
    const t = setup({
      workerUser: async (configured) => {
        asked.push(configured);
        return configured === null ? 'nobody' : `${configured}-resolved`;
      },
    });
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('start');
    expect(t.nginx.controller.applied()).toContain('\nuser nobody\n');
    t.setText('domain: example.com\nnginx:\n  user: www-data\nregistries:\n  docker.io:\n    upstream: https://a.example\n');
    expect((await t.reconcile('edit')).outcome).toBe('applied');
    expect(t.nginx.controller.applied()).toContain('\nuser www-data-resolved\n');
    expect(asked).toEqual([null, 'www-data']);
  });

  it("renders the driver's Accept support: njs joins the lines when the nginx is too old to", async () => {
    const accept: AcceptSupport = {
      variable: '$regcache_accept',
      complete: true,
      js: { module: '/m/ngx_http_js_module.so', script: '/s/accept.js' },
    };
    const t = setup({ accept });
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('start');
    expect(t.nginx.controller.applied()).toContain('\naccept $regcache_accept js /m/ngx_http_js_module.so');
    const plain = setup();
    plain.write({ 'docker.io': 'https://a.example' });
    await plain.reconcile('start');
    expect(plain.nginx.controller.applied()).toMatch(/\naccept \$http_accept$/);
  });

  it('renders a full disk, and fails the pass at "router listen" when a new listen address is taken', async () => {
    let full: string | null = 'free space 1 GiB below 2 GiB';
    const t = setup({ diskFull: () => full, listenCheck: async (a) => (a.port === 8443 ? 'port 8443 is in use' : null) });
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('start');
    expect(t.nginx.controller.applied()).toContain('\ndisk full free space 1 GiB below 2 GiB');
    full = null;
    t.setText('domain: example.com\nlisten: 8443\nregistries:\n  docker.io:\n    upstream: https://a.example\n');
    const r = await t.reconcile('edit');
    expect(r.outcome).toBe('failed');
    expect(r.problems).toEqual([{ path: 'router listen', message: 'port 8443 is in use' }]);
    expect(t.nginx.controller.applied()).toContain('disk full');
  });
});

describe('all-or-nothing apply', () => {
  const hashes = async (t: ReturnType<typeof setup>) => Object.fromEntries((await t.runtime.list()).map((c) => [c.name, c.specHash]));

  it('a router reload that fails puts the egress and the replaced cache back, names the step, and retries on the next pass', async () => {
    let busy = true;
    const t = setup({ egress: {}, failReload: (config) => busy && config.includes('quay.io') });
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('start');
    const good = { egress: t.egressNginx.controller.applied(), router: t.nginx.controller.applied(), caches: await hashes(t) };

    // A new upstream for docker.io together with a change the router cannot load.
    t.write({ 'docker.io': 'https://b.example', 'quay.io': 'https://q.example' });
    const r = await t.reconcile('edit');
    expect(r.outcome).toBe('failed');
    expect(r.message).toContain('router reload');
    expect(t.state.lastError?.message).toContain('Address already in use');
    expect(t.egressNginx.controller.applied()).toBe(good.egress);
    expect(t.nginx.controller.applied()).toBe(good.router);
    expect(await hashes(t)).toEqual(good.caches);
    expect(t.state.routed).toEqual(new Set(['docker.io']));

    // The periodic resync tries again (not "unchanged"), and applies once the port is free.
    expect((await t.reconcile('resync')).outcome).toBe('failed');
    busy = false;
    expect((await t.reconcile('resync')).outcome).toBe('applied');
    expect(t.state.lastError).toBeNull();
    expect(t.egressNginx.controller.applied()).toContain('https://b.example');
  });

  it('a cache that fails to start puts the egress back and leaves the router alone', async () => {
    const t = setup({ egress: {}, failEnsure: (upstream) => upstream === 'https://broken.example' });
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('start');
    const good = { egress: t.egressNginx.controller.applied(), applies: [...t.nginx.applies], caches: await hashes(t) };
    t.write({ 'docker.io': 'https://broken.example' });
    const r = await t.reconcile('edit');
    expect(r.outcome).toBe('failed');
    expect(r.problems).toEqual([{ path: 'cache start', message: 'registry exited (code 1)' }]);
    expect(t.egressNginx.controller.applied()).toBe(good.egress);
    expect(t.nginx.applies).toEqual(good.applies);
    expect(await hashes(t)).toEqual(good.caches);
  });

  it('a failed cache start is retried at once only when an operator asks: its own exits and the resync back off', async () => {
    const t = setup({ egress: {}, failEnsure: (upstream) => upstream === 'https://broken.example' });
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('start');
    t.write({ 'docker.io': 'https://broken.example' });
    expect((await t.reconcile('file change registries.yaml, api reload')).outcome).toBe('failed');
    const tries = () => t.calls.filter((c) => c === 'ensure docker.io').length;
    const after = tries();
    // The tried cache's exits and restarts, probes and the resync: the same file waits for its backoff.
    for (const reason of ['runtime exited docker.io, runtime restarted docker.io', 'upstream of docker.io back', 'resync']) {
      expect((await t.reconcile(reason)).outcome).toBe('failed');
    }
    expect(tries()).toBe(after);
    for (const reason of ['api reload', 'SIGHUP', 'file change registries.yaml', 'runtime exited docker.io, api reload']) {
      expect((await t.reconcile(reason)).outcome).toBe('failed');
    }
    // Each operator request tried the new spec (and put the last good one back).
    expect(tries()).toBe(after + 4 * 2);
    // Another file is tried at once whatever triggered the pass.
    t.write({ 'docker.io': 'https://b.example' });
    expect((await t.reconcile('runtime exited docker.io')).outcome).toBe('applied');
  });

  it('a cache that will not stop after the router reload only warns: the new generation stays, the next pass stops it', async () => {
    let stuck = true;
    const t = setup({ egress: {}, failRemove: (name) => stuck && name === 'ghcr.io' });
    t.write({ 'docker.io': 'https://a.example', 'ghcr.io': 'https://g.example' });
    await t.reconcile('start');
    const before = await hashes(t);

    t.write({ 'docker.io': 'https://b.example' });
    const r = await t.reconcile('edit');
    expect(r.outcome).toBe('applied');
    expect(t.state.lastError).toBeNull();
    // Nothing went back: the egress, the replaced cache and the router are the new generation's.
    expect(t.egressNginx.controller.applied()).toContain('https://b.example');
    expect(t.egressNginx.controller.applied()).not.toContain('https://g.example');
    expect(t.nginx.controller.applied()).not.toContain('ghcr.io');
    expect((await hashes(t))['docker.io']).not.toBe(before['docker.io']);
    expect(t.state.routed).toEqual(new Set(['docker.io']));
    const events = t.events.list();
    expect(events.some((e) => e.message.startsWith('rolled back'))).toBe(false);
    expect(events.find((e) => e.vhost === 'ghcr.io' && e.level === 'warn')?.message).toMatch(
      /^could not stop the cache of a registry removed from config \(tried again on the next pass\): registry did not exit/,
    );

    stuck = false;
    await t.reconcile('resync');
    expect(Object.keys(await hashes(t))).toEqual(['docker.io']);
  });

  it('continues the generation of an nginx adopted from an earlier run', async () => {
    const t = setup({ adopt: 7 });
    t.write({ 'docker.io': 'https://a.example' });
    await t.reconcile('start');
    expect(t.nginx.applies).toEqual([8]);
    expect(t.state.generation).toBe(8);
  });
});
