import { describe, expect, it } from 'vitest';
import { classifyUri, parseAccessLogLine, type AccessLogEntry } from '../../../src/observe/access-log/access-log-entry.js';
import { blobOutcome } from '../../../src/observe/access-log/blob-outcome.js';
import { createTrafficCounters } from '../../../src/observe/access-log/traffic-counters.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** A line exactly as nginx/access-log.conf writes it. */
function line(over: Partial<Record<string, unknown>> = {}): string {
  return JSON.stringify({
    time: '2026-01-02T03:04:05+00:00',
    msec: 1767323045.5,
    vhost: 'docker.io',
    host: 'docker.io.registry.example.com',
    method: 'GET',
    uri: `/v2/library/alpine/blobs/${DIGEST}`,
    status: 200,
    bytes: 1000,
    request_time: 0.25,
    upstream_time: '0.249',
    upstream_status: '200',
    upstream_bytes: '1300',
    cache: '',
    ...over,
  });
}

const parse = (over: Partial<Record<string, unknown>> = {}) => parseAccessLogLine(line(over))!;

describe('classifyUri', () => {
  it.each([
    ['/v2/', 'base', null],
    ['/v2/library/alpine/manifests/3.19', 'manifest', null],
    [`/v2/library/alpine/manifests/${DIGEST}`, 'manifest', DIGEST],
    [`/v2/a/b/c/blobs/${DIGEST}?ns=docker.io`, 'blob', DIGEST],
    ['/v2/library/alpine/blobs/uploads/', 'upload', null],
    ['/v2/library/alpine/tags/list?n=10', 'tags', null],
    ['/v2/_catalog', 'catalog', null],
    ['/favicon.ico', 'other', null],
    ['/v2/x/blobs/not-a-digest', 'blob', null],
  ])('%s is %s', (uri, kind, digest) => {
    expect(classifyUri(uri)).toEqual({ kind, digest });
  });
});

describe('parseAccessLogLine', () => {
  it('reads every field, with start = end − request_time', () => {
    expect(parse()).toEqual<AccessLogEntry>({
      endMs: 1767323045500,
      startMs: 1767323045250,
      vhost: 'docker.io',
      method: 'GET',
      kind: 'blob',
      digest: DIGEST,
      status: 200,
      bytes: 1000,
      upstreamStatus: 200,
      cacheStatus: null,
      digestVariant: '',
      requestLine: true,
      cutOff: false,
      refused: null,
      forwarded: null,
    });
  });

  it('reads a cluster forward (public listener) as the peers tried and what each answered', () => {
    expect(parse({ listener: 'public', peer: '127.0.0.13:5001, 127.0.0.11:5001', upstream_status: '502, 200' }).forwarded).toEqual([
      { peer: '127.0.0.13:5001', status: 502 },
      { peer: '127.0.0.11:5001', status: 200 },
    ]);
    expect(parse({ listener: 'public', peer: '[fd00::1]:5001', upstream_status: '200' }).forwarded).toEqual([
      { peer: '[fd00::1]:5001', status: 200 },
    ]);
    // Answered by the public listener itself (a refused repository): not a forward.
    expect(parse({ listener: 'public', peer: '', upstream_status: '' }).forwarded).toBeNull();
    expect(parse({ peer: '127.0.0.13:5001' }).forwarded).toBeNull();
  });

  it('marks a 2xx whose body stopped before its Content-Length as cut off (not a HEAD, not a complete body)', () => {
    expect(parse({ status: 200, bytes: 400, length: '1000' }).cutOff).toBe(true);
    expect(parse({ status: 200, bytes: 1000, length: '1000' }).cutOff).toBe(false);
    expect(parse({ status: 206, bytes: 10, length: '10' }).cutOff).toBe(false);
    expect(parse({ status: 200, bytes: 0, length: '1000', method: 'HEAD' }).cutOff).toBe(false);
    expect(parse({ status: 502, bytes: 10, length: '133' }).cutOff).toBe(false);
    expect(parse({ status: 200, bytes: 10, length: '' }).cutOff).toBe(false);
  });

  it('maps nginx placeholders to null and takes the last upstream status of a retry list', () => {
    const e = parse({ vhost: '-', upstream_status: '502, 429', cache: 'hit' });
    expect(e.vhost).toBeNull();
    expect(e.upstreamStatus).toBe(429);
    expect(e.cacheStatus).toBe('HIT');
    expect(parse({ upstream_status: '' }).upstreamStatus).toBeNull();
  });

  it('falls back to the ISO time when msec is missing (older format)', () => {
    const { msec: _drop, ...rest } = JSON.parse(line()) as Record<string, unknown>;
    expect(parseAccessLogLine(JSON.stringify(rest))?.endMs).toBe(Date.parse('2026-01-02T03:04:05+00:00'));
  });

  it.each(['', 'not json', '{"status":', '{}', '[1,2]', JSON.stringify({ status: 'x', bytes: 1, uri: '/', method: 'GET', msec: 1 })])(
    'rejects %j',
    (text) => {
      expect(parseAccessLogLine(text)).toBeNull();
    },
  );
});

describe('blobOutcome', () => {
  const e = parse();
  it('is a hit when nginx served it from its own cache, whatever the storage says', () => {
    expect(blobOutcome(parse({ cache: 'HIT' }), undefined)).toBe('hit');
    expect(blobOutcome(parse({ cache: 'STALE' }), null)).toBe('hit');
  });
  it('is a hit when the blob was stored before the request started', () => {
    expect(blobOutcome(e, e.startMs - 1)).toBe('hit');
  });
  it('is a miss when the blob was written during or after the request, or is not stored', () => {
    expect(blobOutcome(e, e.startMs)).toBe('miss');
    expect(blobOutcome(e, e.endMs + 5)).toBe('miss');
    expect(blobOutcome(e, null)).toBe('miss');
    expect(blobOutcome(parse({ cache: 'MISS' }), null)).toBe('miss');
  });
  it('is unknown when the storage cannot be inspected', () => {
    expect(blobOutcome(e, undefined)).toBe('unknown');
  });
});

describe('traffic counters', () => {
  it('counts by status class and kind, bytes, misses, 429s and the last pull per vhost', () => {
    const c = createTrafficCounters(['docker.io', 'ghcr.io']);
    const manifest = parse({ uri: '/v2/library/alpine/manifests/3.19', bytes: 500, msec: 1000 });
    c.record(manifest, null);
    c.record(parse({ bytes: 1000 }), 'miss');
    c.record(parse({ bytes: 1000 }), 'hit');
    c.record(parse({ bytes: 10 }), 'unknown');
    c.record(parse({ method: 'HEAD', bytes: 0 }), null);
    c.record(parse({ status: 404, bytes: 80 }), null);
    c.record(parse({ uri: '/v2/x/manifests/latest', status: 429, upstream_status: '429', bytes: 90 }), null);
    c.record(parse({ vhost: 'ghcr.io', bytes: 7 }), 'hit');

    const d = c.get('docker.io');
    expect(d.requests).toEqual({ '1xx': 0, '2xx': 5, '3xx': 0, '4xx': 2, '5xx': 0 });
    expect(d.requestsByKind).toMatchObject({ manifest: 2, blob: 5 });
    expect(d.bytesServed).toBe(500 + 1000 + 1000 + 10 + 0 + 80 + 90);
    expect(d.blobs).toEqual({ hits: 1, misses: 1, unknown: 1 });
    expect(d.blobMissBytes).toBe(1000);
    expect(d.upstream429).toBe(1);
    expect(d.lastPullAtMs).toBe(1_000_000);
    expect(c.get('ghcr.io').bytesServed).toBe(7);
  });

  it('does not count an nginx-made 429 as the upstream rate-limiting', () => {
    const c = createTrafficCounters(['docker.io']);
    c.record(parse({ status: 429, upstream_status: '' }), null);
    expect(c.get('docker.io').upstream429).toBe(0);
  });

  it('never keeps vhosts it was not told about, and forgets removed ones', () => {
    const c = createTrafficCounters(['docker.io']);
    c.record(parse({ vhost: 'evil.example' }), 'hit');
    c.record(parse({ vhost: '-' }), null);
    expect(c.unrouted()).toBe(2);
    expect(c.get('evil.example').bytesServed).toBe(0);
    c.record(parse(), 'hit');
    c.retain(['ghcr.io']);
    expect(c.get('docker.io').bytesServed).toBe(0);
    c.retain(['docker.io']);
    expect(c.get('docker.io').requests['2xx']).toBe(0);
  });

  it('counts a connection without a request line (TLS on the plain port: 400, empty URI) apart from unknown hosts', () => {
    const c = createTrafficCounters(['docker.io']);
    c.record(parse({ vhost: '-', host: '_', method: 'GET', uri: '', status: 400 }), null);
    c.record(parse({ vhost: '-', host: 'unknown.example', uri: '/v2/x/manifests/latest', status: 404 }), null);
    c.record(parse({ vhost: '-', host: 'a', uri: '/v2/', status: 400 }), null);
    expect({ tls: c.tlsOnPlain(), unrouted: c.unrouted() }).toEqual({ tls: 1, unrouted: 2 });
  });

  it('counts requests the repository rules refused, by reason', () => {
    const counters = createTrafficCounters(['docker.io']);
    counters.record(parse({ status: 403, upstream_status: '', refused: 'denied' }), null);
    counters.record(parse({ status: 403, upstream_status: '', refused: 'not_allowed' }), null);
    counters.record(parse({ status: 403, upstream_status: '', refused: 'not_allowed' }), null);
    counters.record(parse({ status: 403, upstream_status: '', refused: '' }), null);
    counters.record(parse({ status: 403, upstream_status: '', refused: 'forged' }), null);
    expect(counters.get('docker.io').repositoryRefused).toEqual({ denied: 1, notAllowed: 2 });
    expect(counters.get('docker.io').requests['4xx']).toBe(5);
  });

  it('returns copies', () => {
    const c = createTrafficCounters(['docker.io']);
    c.get('docker.io').requests['2xx'] = 99;
    expect(c.get('docker.io').requests['2xx']).toBe(0);
  });
});
