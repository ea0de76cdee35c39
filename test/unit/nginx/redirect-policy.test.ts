import { describe, expect, it } from 'vitest';
import {
  LOCATION_HOST,
  LOCATION_WELL_FORMED,
  originClass,
  ownListenersPattern,
  redirectAllowPattern,
  redirectClass,
} from '../../../src/apply/nginx/redirect-policy.js';

// The patterns are rendered into the egress nginx (PCRE); these are the same expressions in JavaScript.
describe('redirect policy', () => {
  it.each([
    ['cdn.example.com', 'public'],
    ['production.cloudflare.docker.com', 'public'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.1.2.3', 'loopback'],
    ['localhost', 'loopback'],
    ['LOCALHOST.', 'loopback'],
    ['api.localhost', 'loopback'],
    ['10.0.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['100.64.0.1', 'private'],
    ['169.254.169.254', 'never'],
    ['0.0.0.0', 'never'],
    ['metadata.google.internal', 'never'],
    ['[::1]', 'never'],
    ['[::ffff:127.0.0.1]', 'never'],
    ['0x7f000001', 'never'],
    ['2130706433', 'never'],
    ['127.1', 'never'],
    ['0127.0.0.1', 'never'],
    ['010.0.0.1', 'never'],
    ['127.0.0.1.', 'never'],
  ])('%s is %s', (host, cls) => {
    expect(redirectClass(host)).toBe(cls);
  });

  it('reads host and port of an absolute Location and refuses tricks', () => {
    const m = new RegExp(LOCATION_HOST, 'i').exec('https://cdn.example.com:8443/x?y');
    expect([m?.[1], m?.[2]]).toEqual(['cdn.example.com', '8443']);
    const ok = new RegExp(LOCATION_WELL_FORMED, 'i');
    expect(ok.test('/v2/x/blobs/sha256:00')).toBe(true);
    expect(ok.test('http://cdn.example.com')).toBe(true);
    for (const bad of ['http://user@127.0.0.1/', 'http://cdn.example.com\\@127.0.0.1/', 'ftp://x/', 'x', 'http://%31%32%37.0.0.1/', 'http:/x', '0']) {
      expect(ok.test(bad)).toBe(false);
    }
  });

  it('gives an upstream its own class, IPv6 upstreams none', () => {
    expect(originClass('https://registry-1.docker.io')).toBe('public');
    expect(originClass('http://127.0.0.1:5000')).toBe('loopback');
    expect(originClass('http://10.1.2.3')).toBe('private');
    expect(originClass('http://[::1]:5000')).toBe('never');
  });

  it('builds the allow-list and own-listener patterns', () => {
    const allow = new RegExp(redirectAllowPattern(['*.cdn.corp', '10.2.3.4'])!, 'i');
    expect(allow.test('a.b.cdn.corp')).toBe(true);
    expect(allow.test('cdn.corp')).toBe(false);
    expect(allow.test('10.2.3.4')).toBe(true);
    expect(allow.test('10.2.3.45')).toBe(false);
    expect(redirectAllowPattern([])).toBeNull();
    const own = new RegExp(ownListenersPattern([8080, 5000, 8080]));
    expect(own.test('loopback:8080')).toBe(true);
    expect(own.test('loopback:80800')).toBe(false);
    expect(own.test('public:8080')).toBe(false);
  });
});
