import { describe, expect, it } from 'vitest';
import { createEgressCounters, parseEgressLogLine } from '../../../src/observe/access-log/egress-counters.js';

const line = (over: Record<string, unknown>) =>
  JSON.stringify({
    time: 't',
    msec: 1,
    vhost: 'docker.io',
    method: 'GET',
    uri: '/v2/x/blobs/sha256:a',
    status: 200,
    bytes: 10,
    request_time: 0.1,
    upstream_addr: '',
    upstream_status: '',
    upstream_bytes: '',
    cache: '',
    ...over,
  });

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

  it("tells an unreachable or silent upstream (nginx's own 502/504) from other answers", () => {
    expect(parseEgressLogLine(line({ status: 502, upstream_status: '502' }))!.upstreamFailed).toBe(true);
    expect(parseEgressLogLine(line({ status: 504, upstream_status: '307 : 504' }))!.upstreamFailed).toBe(true);
    expect(parseEgressLogLine(line({ status: 200, upstream_status: '200' }))!.upstreamFailed).toBe(false);
    expect(parseEgressLogLine(line({ status: 404, upstream_status: '404' }))!.upstreamFailed).toBe(false);
    // The failed-fetch marker's own 504 reached no upstream.
    expect(parseEgressLogLine(line({ status: 504, upstream_status: '' }))!.upstreamFailed).toBe(false);
  });
});
