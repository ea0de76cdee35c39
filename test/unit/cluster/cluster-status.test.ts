import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { clusterStatus } from '../../../src/status/cluster-view.js';
import { createPrometheusMetrics } from '../../../src/status/metrics/prometheus-metrics.js';
import { createPeerCounters } from '../../../src/observe/access-log/peer-counters.js';

const membership = { members: ['10.0.0.1:5001', '10.0.0.2:5001', '10.0.0.3:5001'], self: '10.0.0.2:5001' };

describe('cluster status and metrics', () => {
  const counters = createPeerCounters();
  counters.record([
    { peer: '10.0.0.3:5001', status: 502 },
    { peer: '10.0.0.1:5001', status: 200 },
  ]);
  counters.record([{ peer: '10.0.0.1:5001', status: 200 }]);
  counters.record([{ peer: '10.0.0.2:5001', status: null }]);
  const health = (peer: string) =>
    peer === '10.0.0.3:5001'
      ? { up: false, checkedAt: '2026-12-02T10:00:00.000Z', error: 'connect ECONNREFUSED' }
      : peer === '10.0.0.1:5001'
        ? { up: true, checkedAt: null, error: null }
        : null;

  it('lists each peer with its health, ring share and forwarded requests', () => {
    const status = clusterStatus(membership, health, counters.snapshot())!;
    expect(status.self).toBe('10.0.0.2:5001');
    expect(status.peers.map((p) => [p.address, p.self, p.up, p.forwarded])).toEqual([
      ['10.0.0.1:5001', false, true, 2],
      ['10.0.0.2:5001', true, null, 1],
      ['10.0.0.3:5001', false, false, 1],
    ]);
    expect(status.peers[0]!.forwardedByCode).toEqual({ '200': 2 });
    expect(status.peers[1]!.forwardedByCode).toEqual({ error: 1 });
    expect(status.peers.reduce((a, p) => a + p.ringShare, 0)).toBeCloseTo(1, 3);
    expect(clusterStatus(null, health, new Map())).toBeNull();
  });

  it('renders regcache_peer_up and regcache_peer_requests_total', async () => {
    const metrics = createPrometheusMetrics({
      registry: new Registry(),
      vhosts: async () => [],
      cluster: () => clusterStatus(membership, health, counters.snapshot()),
      defaultMetrics: false,
    });
    const text = await metrics.render();
    expect(text).toContain('regcache_peer_up{peer="10.0.0.1:5001"} 1');
    expect(text).toContain('regcache_peer_up{peer="10.0.0.3:5001"} 0');
    expect(text).not.toContain('regcache_peer_up{peer="10.0.0.2:5001"}');
    expect(text).toContain('regcache_peer_requests_total{peer="10.0.0.1:5001",code="200"} 2');
    expect(text).toContain('regcache_peer_requests_total{peer="10.0.0.3:5001",code="502"} 1');
  });
});
