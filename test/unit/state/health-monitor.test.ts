import { describe, expect, it } from 'vitest';
import type { CacheInstance } from '../../../src/apply/runtime/cache-runtime.js';
import { createHealthMonitor, type HealthTarget } from '../../../src/state/health-monitor.js';
import type { ProbeResult } from '../../../src/state/probes.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

const ok: ProbeResult = { ok: true, status: 200, error: null };
const down: ProbeResult = { ok: false, status: null, error: 'ECONNREFUSED' };
const instance = (name: string, address: string): CacheInstance => ({
  name,
  specHash: 'h',
  address,
  debugAddress: null,
  state: 'running',
  restarts: 0,
  lastError: null,
});

function setup() {
  const clock = createFakeClock();
  const cacheAnswers = new Map<string, ProbeResult>();
  const upstreamAnswers = new Map<string, ProbeResult>();
  const cacheProbes: string[] = [];
  const upstreamProbes: string[] = [];
  const monitor = createHealthMonitor({
    clock,
    cacheIntervalMs: 5000,
    upstreamIntervalMs: 30_000,
    probeCache: async (address) => {
      cacheProbes.push(address);
      return cacheAnswers.get(address) ?? ok;
    },
    probeUpstream: async (upstream, caFile) => {
      upstreamProbes.push(`${upstream}|${caFile ?? ''}`);
      return upstreamAnswers.get(upstream) ?? ok;
    },
  });
  let targets: HealthTarget[] = [
    { name: 'docker.io', upstream: 'https://up.example', caFile: null, instance: instance('docker.io', '127.0.0.1:5001') },
    { name: 'ghcr.io', upstream: 'https://ghcr.example', caFile: null, instance: null },
  ];
  let targetCalls = 0;
  const start = () =>
    monitor.start(async () => {
      targetCalls++;
      return targets;
    });
  return {
    clock,
    monitor,
    cacheAnswers,
    upstreamAnswers,
    cacheProbes,
    upstreamProbes,
    start,
    setTargets: (t: HealthTarget[]) => (targets = t),
    targetCalls: () => targetCalls,
  };
}

describe('health monitor (fake probes, fake clock)', () => {
  it('probes caches every interval and upstreams only every upstream interval', async () => {
    const h = setup();
    h.start();
    await h.clock.advance(0);
    expect(h.cacheProbes).toEqual(['127.0.0.1:5001']);
    expect([...h.upstreamProbes].sort()).toEqual(['https://ghcr.example|', 'https://up.example|']);
    expect(h.monitor.health('docker.io')).toMatchObject({ cache: ok, cacheCheckedAt: 0, upstream: ok, upstreamCheckedAt: 0 });
    // No instance: no cache result.
    expect(h.monitor.health('ghcr.io').cache).toBeNull();

    await h.clock.advance(4999);
    expect(h.cacheProbes).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.cacheProbes).toHaveLength(2);
    expect(h.upstreamProbes).toHaveLength(2);
    await h.clock.advance(25_000); // t=30000
    expect(h.cacheProbes).toHaveLength(7);
    expect(h.upstreamProbes).toHaveLength(4);
    expect(h.monitor.health('docker.io').upstreamCheckedAt).toBe(30_000);
    h.monitor.stop();
  });

  it('tells listeners when a cache or an upstream flips, not on the first result', async () => {
    const h = setup();
    const cacheFlips: Array<[string, boolean, string | null]> = [];
    const upstreamFlips: Array<[string, boolean]> = [];
    h.monitor.onCacheChange((name, isOk, error) => cacheFlips.push([name, isOk, error]));
    h.monitor.onUpstreamChange((name, reachable) => upstreamFlips.push([name, reachable]));
    h.start();
    await h.clock.advance(0);
    expect(cacheFlips).toEqual([]);
    expect(upstreamFlips).toEqual([]);

    h.cacheAnswers.set('127.0.0.1:5001', down);
    await h.clock.advance(5000);
    expect(cacheFlips).toEqual([['docker.io', false, 'ECONNREFUSED']]);
    await h.clock.advance(5000); // still down: no news
    expect(cacheFlips).toHaveLength(1);
    h.cacheAnswers.delete('127.0.0.1:5001');
    await h.clock.advance(5000);
    expect(cacheFlips).toEqual([
      ['docker.io', false, 'ECONNREFUSED'],
      ['docker.io', true, null],
    ]);

    h.upstreamAnswers.set('https://ghcr.example', down);
    await h.clock.advance(15_000); // t=30000
    expect(upstreamFlips).toEqual([['ghcr.io', false]]);
    h.monitor.stop();
  });

  it('probes afresh when a vhost points at another upstream, without calling it a flip', async () => {
    const h = setup();
    const upstreamFlips: Array<[string, boolean]> = [];
    h.monitor.onUpstreamChange((name, reachable) => upstreamFlips.push([name, reachable]));
    h.start();
    await h.clock.advance(0);
    h.upstreamAnswers.set('https://elsewhere.example', down);
    h.setTargets([{ name: 'docker.io', upstream: 'https://elsewhere.example', caFile: '/ca.pem', instance: null }]);
    await h.clock.advance(5000);
    expect(h.upstreamProbes.at(-1)).toBe('https://elsewhere.example|/ca.pem');
    expect(h.monitor.health('docker.io').upstream).toEqual(down);
    expect(upstreamFlips).toEqual([]);
    // ghcr.io left the targets: its results are dropped.
    expect(h.monitor.health('ghcr.io').upstream).toBeNull();
    h.monitor.stop();
  });

  it('checkCache and ensureUpstreamChecked probe on demand; checkCache never notifies', async () => {
    const h = setup();
    const cacheFlips: string[] = [];
    h.monitor.onCacheChange((name) => cacheFlips.push(name));
    h.cacheAnswers.set('127.0.0.1:6000', down);
    expect(await h.monitor.checkCache('quay.io', '127.0.0.1:6000')).toEqual(down);
    h.cacheAnswers.delete('127.0.0.1:6000');
    expect(await h.monitor.checkCache('quay.io', '127.0.0.1:6000')).toEqual(ok);
    expect(cacheFlips).toEqual([]);
    await h.monitor.ensureUpstreamChecked('quay.io', 'https://quay.example', null);
    await h.monitor.ensureUpstreamChecked('quay.io', 'https://quay.example', null);
    expect(h.upstreamProbes).toEqual(['https://quay.example|']);
  });

  it('stop() leaves no timer and no further probes', async () => {
    const h = setup();
    h.start();
    await h.clock.advance(0);
    expect(h.clock.pending()).toBe(1);
    h.monitor.stop();
    expect(h.clock.pending()).toBe(0);
    await h.clock.advance(60_000);
    expect(h.cacheProbes).toHaveLength(1);
  });

  it('stop() then start() while a probe round is still running keeps one loop', async () => {
    const h = setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h.monitor.start(async () => {
      await gate;
      return [];
    });
    h.monitor.stop();
    h.start();
    release();
    await h.clock.advance(0);
    expect(h.clock.pending()).toBe(1);
    await h.clock.advance(20_000);
    expect(h.clock.pending()).toBe(1);
    expect(h.targetCalls()).toBe(5);
    h.monitor.stop();
  });
});
