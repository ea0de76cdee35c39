import { describe, expect, it } from 'vitest';
import { createEgressCounters, parseEgressLogLine } from '../../../src/status/access-log/egress-counters.js';

const line = (over: Record<string, unknown>) =>
  JSON.stringify({ time: 't', msec: 1, vhost: 'docker.io', method: 'GET', uri: '/v2/x/blobs/sha256:a', status: 200, bytes: 10, request_time: 0.1, upstream_addr: '', upstream_status: '', upstream_bytes: '', cache: '', ...over });

describe('egress counters', () => {
  it('counts upstream hops, their bytes, and fetches answered from the lock', () => {
    const counters = createEgressCounters();
    counters.retain(['docker.io']);
    // A blob via a CDN redirect: two hops, across an internal redirect (" : ").
    counters.record(parseEgressLogLine(line({ upstream_status: '307 : 200', upstream_bytes: '420 : 1048600', cache: 'MISS' }))!);
    // distribution's second fetch of the same blob: from the egress cache, no upstream.
    counters.record(parseEgressLogLine(line({ cache: 'HIT' }))!);
    // The /v2/ challenge passes through.
    counters.record(parseEgressLogLine(line({ uri: '/v2/', status: 401, upstream_status: '401', upstream_bytes: '300' }))!);
    expect(counters.get('docker.io')).toEqual({ requests: 3, upstreamRequests: 3, upstreamBytes: 420 + 1048600 + 300, mergedFetches: 1 });
  });

  it('ignores other vhosts and lines that are not ours', () => {
    const counters = createEgressCounters();
    counters.retain(['docker.io']);
    counters.record(parseEgressLogLine(line({ vhost: 'forged.example', cache: 'HIT' }))!);
    expect(parseEgressLogLine('not json')).toBeNull();
    expect(parseEgressLogLine(line({ vhost: '' }))).toBeNull();
    expect(counters.get('docker.io').requests).toBe(0);
    expect(counters.get('forged.example').requests).toBe(0);
  });
});
