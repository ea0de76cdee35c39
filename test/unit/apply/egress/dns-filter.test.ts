// The egress nginx's resolver refuses names that resolve to internal addresses, unless the upstreams
// themselves use such names or addresses (src/apply/egress/dns-filter.ts).
import { describe, expect, it } from 'vitest';
import { addressClass, dnsPolicy, filterDnsResponse, parseDnsMessage } from '../../../../src/apply/egress/dns-filter.js';
import { dnsAnswer, dnsQuery } from '../../../helpers/dns-packets.js';

describe('DNS filter', () => {
  const publicUpstreams = dnsPolicy(['https://registry-1.docker.io', 'https://ghcr.io'], ['*.cdn.corp', 'mirror.lan']);

  it('classifies addresses as the redirect policy does', () => {
    expect(addressClass('104.16.1.1')).toBe('public');
    expect(addressClass('127.0.0.1')).toBe('loopback');
    expect(addressClass('10.1.2.3')).toBe('private');
    expect(addressClass('172.20.0.1')).toBe('private');
    expect(addressClass('169.254.169.254')).toBe('never');
    expect(addressClass('0.0.0.0')).toBe('never');
    expect(addressClass('::1')).toBe('loopback');
    expect(addressClass('::ffff:127.0.0.1')).toBe('loopback');
    expect(addressClass('fd00:0:0:0:0:0:0:1')).toBe('private');
    expect(addressClass('fe80:0:0:0:0:0:0:1')).toBe('never');
    expect(addressClass('2606:4700:0:0:0:0:0:1')).toBe('public');
  });

  it('reads queries and answers, compressed names included', () => {
    const q = dnsQuery(0x1234, 'cdn.example.com');
    expect(parseDnsMessage(q)).toMatchObject({ id: 0x1234, questions: [{ name: 'cdn.example.com', type: 1 }], answers: [] });
    const a = dnsAnswer(q, ['1.2.3.4', '::1']);
    expect(parseDnsMessage(a)!.answers.map((x) => x.address)).toEqual(['1.2.3.4', '::1']);
    expect(parseDnsMessage(Buffer.from('nonsense'))).toBeNull();
  });

  it('passes public answers unchanged', () => {
    const a = dnsAnswer(dnsQuery(7, 'production.cloudflare.docker.com'), ['104.16.1.1', '104.16.2.2']);
    expect(filterDnsResponse(a, publicUpstreams)).toEqual({ answer: a, refused: null });
  });

  it('refuses a public-looking name that resolves to loopback, private or link-local addresses', () => {
    for (const address of ['127.0.0.1', '10.0.0.5', '169.254.169.254', '::1', '::ffff:10.0.0.1']) {
      const q = dnsQuery(9, 'cdn.attacker.example');
      const { answer, refused } = filterDnsResponse(dnsAnswer(q, ['104.16.1.1', address]), publicUpstreams);
      expect(refused, address).toContain(address);
      const m = parseDnsMessage(answer)!;
      expect(m.id).toBe(9);
      expect(answer[3]! & 0x0f).toBe(5); // REFUSED
      expect(m.questions).toEqual([{ name: 'cdn.attacker.example', type: 1 }]);
      expect(m.answers).toEqual([]);
    }
  });

  it("trusts the upstreams' own names, egress.redirectAllow, and the address classes the upstreams use", () => {
    const trusted = (name: string, address: string, policy = publicUpstreams) =>
      filterDnsResponse(dnsAnswer(dnsQuery(1, name), [address]), policy).refused === null;
    expect(trusted('ghcr.io', '10.0.0.1')).toBe(true);
    expect(trusted('GHCR.IO.', '10.0.0.1')).toBe(true);
    expect(trusted('files.cdn.corp', '10.9.9.9')).toBe(true);
    expect(trusted('mirror.lan', '192.168.1.10')).toBe(true);
    expect(trusted('cdn.corp', '10.9.9.9')).toBe(false);
    // A registry on the private network may redirect to a private CDN by name; link-local stays refused.
    const internal = dnsPolicy(['http://10.0.0.5:5000'], []);
    expect(trusted('blobs.lan', '10.0.0.6', internal)).toBe(true);
    expect(trusted('blobs.lan', '127.0.0.1', internal)).toBe(false);
    expect(trusted('blobs.lan', '169.254.169.254', internal)).toBe(false);
    // An upstream given by name vouches for that name only, whatever it resolves to.
    const byName = dnsPolicy(['http://localhost:5000'], []);
    expect(trusted('localhost', '127.0.0.1', byName)).toBe(true);
    expect(trusted('cdn.attacker.example', '127.0.0.1', byName)).toBe(false);
  });

  it('refuses a malformed answer', () => {
    const { answer, refused } = filterDnsResponse(Buffer.from([0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 9]), publicUpstreams);
    expect(refused).toBe('malformed answer');
    expect(answer[3]! & 0x0f).toBe(5);
  });
});
