import { describe, expect, it } from 'vitest';
import { parseEgressLogLine } from '../../../src/observe/access-log/egress-counters.js';
import { createMirrorCounters, isMirrorFailure } from '../../../src/observe/access-log/mirror-counters.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const line = (over: Record<string, unknown>) =>
  parseEgressLogLine(
    JSON.stringify({
      msec: T0 / 1000,
      vhost: 'docker.io',
      method: 'GET',
      uri: '/v2/library/alpine/blobs/sha256:' + 'a'.repeat(64),
      status: 200,
      bytes: 10,
      upstream_addr: '',
      upstream_status: '',
      upstream_bytes: '',
      cache: 'MISS',
      ...over,
    }),
  )!;

const lists = new Map([
  [
    'docker.io',
    [
      { origin: 'https://a.example', hop: '127.0.0.1:41011' },
      { origin: 'https://b.example', hop: '127.0.0.1:41012' },
    ],
  ],
]);

describe('egress log attempts', () => {
  it('pairs the first proxying group of $upstream_addr with $upstream_status, leaving redirects followed out', () => {
    expect(line({ upstream_addr: '127.0.0.1:41011, 127.0.0.1:41012 : 10.0.0.9:443', upstream_status: '429, 307 : 200' }).attempts).toEqual([
      { address: '127.0.0.1:41011', status: 429 },
      { address: '127.0.0.1:41012', status: 307 },
    ]);
    expect(line({ upstream_addr: '127.0.0.1:41011', upstream_status: '-' }).attempts).toEqual([{ address: '127.0.0.1:41011', status: null }]);
    expect(line({ cache: 'HIT' }).attempts).toEqual([]);
    expect(line({}).timeMs).toBe(T0);
  });
});

describe('mirror counters', () => {
  it('counts each mirror tried, its codes and failures, and shows a failed mirror backing off until its backoff ends', () => {
    const c = createMirrorCounters();
    c.configure(lists, 5000);
    expect(c.get('docker.io', T0).map((m) => [m.address, m.state, m.requests])).toEqual([
      ['https://a.example', 'up', 0],
      ['https://b.example', 'up', 0],
    ]);
    c.record(line({ upstream_addr: '127.0.0.1:41011, 127.0.0.1:41012', upstream_status: '502, 200' }), T0);
    c.record(line({ upstream_addr: '127.0.0.1:41012', upstream_status: '200', msec: (T0 + 1000) / 1000 }), T0);
    // Another vhost's line never counts for these mirrors.
    c.record(line({ vhost: 'ghcr.io', upstream_addr: '127.0.0.1:41011', upstream_status: '200' }), T0);
    const [a, b] = c.get('docker.io', T0 + 2000);
    expect(a).toMatchObject({ state: 'backing-off', requests: 1, failures: 1, codes: { '502': 1 }, lastErrorAt: new Date(T0).toISOString() });
    expect(a!.lastError).toMatch(/^HTTP 502/);
    expect(b).toMatchObject({ state: 'up', requests: 2, failures: 0, codes: { '200': 2 }, lastError: null });
    // nginx counts fail_timeout in whole seconds: skipped while now - failed <= 5 s.
    expect(c.get('docker.io', T0 + 5999)[0]!.state).toBe('backing-off');
    expect(c.get('docker.io', T0 + 6000)[0]!.state).toBe('up');
    // Served again after its backoff: up, the failure stays counted.
    c.record(line({ upstream_addr: '127.0.0.1:41011', upstream_status: '200', msec: (T0 + 6500) / 1000 }), T0);
    expect(c.get('docker.io', T0 + 6500)[0]).toMatchObject({ state: 'up', requests: 2, failures: 1 });
    // 429 fails over and counts; 404 and 401 do not.
    c.record(line({ upstream_addr: '127.0.0.1:41011, 127.0.0.1:41012', upstream_status: '429, 404', msec: (T0 + 7000) / 1000 }), T0);
    expect(c.get('docker.io', T0 + 7000).map((m) => [m.state, m.failures, m.codes])).toEqual([
      ['backing-off', 2, { '200': 1, '502': 1, '429': 1 }],
      ['up', 0, { '200': 2, '404': 1 }],
    ]);
    expect([429, 500, 502, 503, 504, null].every(isMirrorFailure)).toBe(true);
    expect([200, 307, 401, 403, 404].some(isMirrorFailure)).toBe(false);
  });

  it('drops the counts of mirrors no longer listed', () => {
    const c = createMirrorCounters();
    c.configure(lists, 5000);
    c.record(line({ upstream_addr: '127.0.0.1:41012', upstream_status: '200' }), T0);
    c.configure(new Map([['docker.io', [{ origin: 'https://a.example', hop: '127.0.0.1:41011' }]]]), 5000);
    c.configure(lists, 5000);
    expect(c.get('docker.io', T0)[1]!.requests).toBe(0);
    expect(c.get('ghcr.io', T0)).toEqual([]);
  });
});
