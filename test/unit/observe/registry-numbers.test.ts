import { describe, expect, it } from 'vitest';
import { emptyTrafficCounts } from '../../../src/observe/access-log/traffic-counters.js';
import { createProxyTotals } from '../../../src/observe/registry-vars/proxy-totals.js';
import { parseRegistryVars, type RegistryProxyVars } from '../../../src/observe/registry-vars/registry-vars.js';
import { vhostNumbers } from '../../../src/observe/vhost-numbers.js';

const group = (requests: number, misses: number, bytesPulled = 0) => ({ requests, hits: requests, misses, bytesPulled, bytesPushed: 0 });
const vars = (m: ReturnType<typeof group>, b = group(0, 0)): RegistryProxyVars => ({ manifests: m, blobs: b });

describe('parseRegistryVars', () => {
  it("reads distribution's registry.proxy expvar groups", () => {
    const doc = {
      cmdline: ['registry'],
      registry: {
        proxy: {
          blobs: { Requests: 4, Hits: 4, Misses: 0, BytesPulled: 0, BytesPushed: 123 },
          manifests: { Requests: 2, Hits: 2, Misses: 1, BytesPulled: 529, BytesPushed: 1058 },
        },
      },
    };
    expect(parseRegistryVars(doc)).toEqual({
      manifests: { requests: 2, hits: 2, misses: 1, bytesPulled: 529, bytesPushed: 1058 },
      blobs: { requests: 4, hits: 4, misses: 0, bytesPulled: 0, bytesPushed: 123 },
    });
  });
  it.each([null, {}, { registry: {} }, { registry: { proxy: { blobs: {}, manifests: {} } } }])('has nothing in %j', (doc) => {
    expect(parseRegistryVars(doc)).toBeNull();
  });
});

describe('proxy totals', () => {
  it('stays monotonic across a registry restart (new instance key or counters going back)', () => {
    const t = createProxyTotals();
    t.observe('docker.io', 'a', vars(group(5, 2, 100)));
    t.observe('docker.io', 'a', vars(group(7, 3, 150)));
    expect(t.totals('docker.io')?.manifests).toMatchObject({ requests: 7, misses: 3, bytesPulled: 150 });
    t.observe('docker.io', 'b', vars(group(9, 9, 9))); // restarted and already busy again
    expect(t.totals('docker.io')?.manifests).toMatchObject({ requests: 16, misses: 12, bytesPulled: 159 });
    t.observe('docker.io', 'b', vars(group(1, 0, 0))); // restarted without the key changing
    expect(t.totals('docker.io')?.manifests).toMatchObject({ requests: 17, misses: 12, bytesPulled: 159 });
    t.retain([]);
    expect(t.totals('docker.io')).toBeNull();
  });
});

describe('vhostNumbers', () => {
  it('takes manifest misses from the registry, hits as requests − misses plus nginx cache hits, blobs from the log', () => {
    const traffic = emptyTrafficCounts();
    traffic.requests['2xx'] = 10;
    traffic.requests['4xx'] = 1;
    traffic.blobs = { hits: 3, misses: 1, unknown: 0 };
    traffic.blobMissBytes = 4000;
    traffic.manifestNginxHits = 2;
    traffic.lastPullAtMs = Date.UTC(2026, 0, 1);
    const n = vhostNumbers({
      traffic,
      proxy: vars(group(4, 1, 500)),
      proxyCurrent: true,
      disk: { bytes: 8192, files: 2, partial: false, measuredAtMs: 0 },
      sinceMs: 0,
    });
    expect(n.cache.manifests).toEqual({ hits: 5, misses: 1, hitRatio: 5 / 6 });
    expect(n.cache.blobs).toEqual({ hits: 3, misses: 1, unknown: 0, hitRatio: 0.75 });
    expect(n.traffic.bytesFromUpstream).toBe(4500);
    expect(n.traffic.requests.total).toBe(11);
    expect(n.traffic.lastPullAt).toBe('2026-01-01T00:00:00.000Z');
    expect(n.cache.diskBytes).toBe(8192);
  });

  it('has null ratios before anything was counted and flags missing registry counters', () => {
    const n = vhostNumbers({ traffic: emptyTrafficCounts(), proxy: null, proxyCurrent: false, disk: null, sinceMs: 0 });
    expect(n.cache.manifests.hitRatio).toBeNull();
    expect(n.cache.blobs.hitRatio).toBeNull();
    expect(n.cache.registryStats).toBe(false);
    expect(n.cache.diskBytes).toBeNull();
  });
});
