import { describe, expect, it } from 'vitest';
import type { ReconcileResult } from '../../../src/apply/reconciler.js';
import type { RegcacheConfig } from '../../../src/config/model.js';
import { createAdminApp, type AdminAppDeps } from '../../../src/http/admin-app.js';
import { createLogger } from '../../../src/log.js';
import { createEventLog } from '../../../src/state/event-log.js';
import type { PrometheusMetrics } from '../../../src/status/metrics/prometheus-metrics.js';
import type { StatusPageView } from '../../../src/status/page/status-page-view.js';
import type { DaemonStatus, ObservedVhost, StatusService } from '../../../src/status/status-service.js';
import { configFrom } from '../../helpers/config.js';
import { createFakeClock } from '../../helpers/fake-clock.js';
import { inject } from '../../helpers/inject.js';
import { daemonStatus, FIXTURE_NOW, observedVhost } from '../../helpers/status-fixtures.js';
import { TWO_REGISTRIES } from '../../helpers/config-fixtures.js';

// createAdminApp driven in memory (no port) with small fakes of its collaborators; one fixture per scenario.
// The guard (token, Host/Origin) has its own tests: these fixtures build the app without one.

const START = FIXTURE_NOW;
const vhost = observedVhost;

interface Fixture {
  vhosts?: ObservedVhost[];
  status?: Partial<DaemonStatus>;
  ready?: boolean;
  reload?: () => Promise<ReconcileResult>;
  applied?: RegcacheConfig | null;
  metricsText?: string;
}

function app(f: Fixture = {}) {
  const clock = createFakeClock(START);
  const events = createEventLog(clock);
  const reloads: number[] = [];
  const pages: StatusPageView[] = [];
  let metricsRenders = 0;
  const vhosts = f.vhosts ?? [];
  const status: StatusService = {
    cluster: () => null,
    vhosts: async () => vhosts,
    status: async () => daemonStatus({ vhosts, ready: f.ready ?? true, ...f.status }),
    ready: async () => f.ready ?? true,
    readiness: async () => ({ ready: f.ready ?? true, generation: 3, lastError: f.ready === false ? 'nginx -t failed' : null }),
  };
  const metrics: PrometheusMetrics = {
    reconcile: {} as PrometheusMetrics['reconcile'],
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
    render: async () => {
      metricsRenders++;
      return f.metricsText ?? '';
    },
  };
  const deps: AdminAppDeps = {
    status,
    events,
    reload: async () => {
      reloads.push(clock.now());
      return (f.reload ?? (async () => ({ outcome: 'unchanged', generation: 3, problems: [], message: null }) as ReconcileResult))();
    },
    logger: createLogger({ level: 'silent' }),
    appliedConfig: () => f.applied ?? null,
    metrics,
    page: {
      render: (view) => {
        pages.push(view);
        return `<html>${view.vhosts.length} vhosts</html>`;
      },
      snippets: () => [],
      now: () => clock.now(),
    },
  };
  const handler = createAdminApp(deps);
  return {
    events,
    reloads,
    pages,
    metricsRenders: () => metricsRenders,
    get: (url: string) => inject(handler, { url }),
    post: (url: string) => inject(handler, { method: 'POST', url }),
  };
}

describe('admin app: vhosts', () => {
  const fixture: Fixture = {
    vhosts: [
      vhost('docker.io'),
      vhost('ghcr.io', { status: 'down', backend: { address: null, state: 'crashed', restarts: 2 }, lastError: 'exited (code 1)' }),
    ],
  };

  it('lists every vhost', async () => {
    const res = await app(fixture).get('/api/v1/vhosts');
    expect(res.status).toBe(200);
    expect(res.json<{ vhosts: ObservedVhost[] }>().vhosts.map((v) => [v.name, v.status])).toEqual([
      ['docker.io', 'up'],
      ['ghcr.io', 'down'],
    ]);
  });

  it('shows one vhost by name, 404 naming an unknown one', async () => {
    const a = app(fixture);
    expect((await a.get('/api/v1/vhosts/ghcr.io')).json()).toMatchObject({ name: 'ghcr.io', lastError: 'exited (code 1)', backend: { restarts: 2 } });
    const missing = await a.get('/api/v1/vhosts/quay.io');
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ error: 'no vhost named quay.io' });
  });

  it('answers an unknown /api path with a JSON 404 naming it, and sets the security headers', async () => {
    const res = await app(fixture).get('/api/v1/nope');
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({ error: 'no route GET /api/v1/nope' });
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });
});

describe('admin app: status', () => {
  it('returns the daemon status as the service builds it', async () => {
    const res = await app({ status: { generation: 7, runtime: 'docker', lastError: null } }).get('/api/v1/status');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ generation: 7, runtime: 'docker', ready: true, lastError: null });
  });

  it('readyz is 503 with the reason while not ready, healthz always 200', async () => {
    const a = app({ ready: false });
    const ready = await a.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json()).toEqual({ ready: false, generation: 3, lastError: 'nginx -t failed' });
    expect((await a.get('/healthz')).json()).toEqual({ ok: true });
    expect((await app({ ready: true }).get('/readyz')).status).toBe(200);
  });

  it('events come newest first, bounded by ?limit', async () => {
    const a = app();
    for (let i = 1; i <= 5; i++) a.events.record({ kind: 'reload', level: 'info', vhost: null, message: `pass ${i}` });
    const body = (await a.get('/api/v1/events?limit=2')).json<{ events: Array<{ message: string; time: string }> }>();
    expect(body.events.map((e) => e.message)).toEqual(['pass 5', 'pass 4']);
    expect(body.events[0]!.time).toBe('2026-01-01T12:00:00.000Z');
  });

  it('the status page renders the view with no-store', async () => {
    const a = app({ vhosts: [vhost('docker.io')] });
    const res = await a.get('/');
    expect(res.status).toBe(200);
    expect(res.body).toBe('<html>1 vhosts</html>');
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(a.pages[0]!.vhosts).toHaveLength(1);
  });
});

describe('admin app: metrics', () => {
  it('renders afresh per scrape in the Prometheus content type', async () => {
    const a = app({ metricsText: 'regcache_vhost_up{vhost="docker.io"} 1\n' });
    const res = await a.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.body).toBe('regcache_vhost_up{vhost="docker.io"} 1\n');
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    await a.get('/metrics');
    expect(a.metricsRenders()).toBe(2);
  });
});

describe('admin app: clients', () => {
  it('lists the client kinds', async () => {
    expect((await app().get('/api/v1/clients')).json()).toEqual({ clients: ['containerd', 'k3s', 'docker', 'podman', 'k3d'] });
  });

  it('503 before a config is applied, then documents for the applied config', async () => {
    expect((await app({ applied: null }).get('/api/v1/clients/containerd')).status).toBe(503);
    const res = await app({ applied: configFrom(TWO_REGISTRIES) }).get('/api/v1/clients/containerd');
    expect(res.status).toBe(200);
    expect(res.json<{ files: Array<{ path: string }> }>().files.map((f) => f.path)).toEqual(['docker.io/hosts.toml', 'ghcr.io/hosts.toml']);
  });

  it('400 naming an unknown parameter, 404 naming an unknown client', async () => {
    const a = app({ applied: configFrom(TWO_REGISTRIES) });
    const bad = await a.get('/api/v1/clients/docker?colour=blue');
    expect(bad.status).toBe(400);
    expect(bad.json<{ error: string }>().error).toMatch(/^colour: unknown parameter/);
    const unknown = await a.get('/api/v1/clients/rkt');
    expect(unknown.status).toBe(404);
    expect(unknown.json<{ error: string }>().error).toMatch(/^no client named rkt/);
  });
});

describe('admin app: reload', () => {
  const result = (outcome: ReconcileResult['outcome'], message: string | null = null): ReconcileResult => ({
    outcome,
    generation: 4,
    problems: [],
    message,
  });

  it('POST /api/v1/reload runs one pass and answers 200 when it applied', async () => {
    const a = app({ reload: async () => result('applied') });
    const res = await a.post('/api/v1/reload');
    expect(res.status).toBe(200);
    expect(res.json()).toEqual(result('applied'));
    expect(a.reloads).toHaveLength(1);
  });

  it('422 for a rejected config, 500 for a failed pass', async () => {
    expect((await app({ reload: async () => result('rejected', 'registries.docker.io.upstream: not a URL') }).post('/api/v1/reload')).status).toBe(
      422,
    );
    expect((await app({ reload: async () => result('failed', 'nginx -t failed') }).post('/api/v1/reload')).status).toBe(500);
  });

  it('a throwing pass is a JSON 500 without its message', async () => {
    const res = await app({
      reload: async () => {
        throw new Error('secret detail');
      },
    }).post('/api/v1/reload');
    expect(res.status).toBe(500);
    expect(res.json()).toEqual({ error: 'internal error' });
  });

  it('GET is not a reload', async () => {
    const a = app();
    expect((await a.get('/api/v1/reload')).status).toBe(404);
    expect(a.reloads).toHaveLength(0);
  });
});
