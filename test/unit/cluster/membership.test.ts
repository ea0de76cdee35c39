import { describe, expect, it } from 'vitest';
import { clusterMembership, membershipDiff, sameMembers } from '../../../src/cluster/membership.js';
import type { ClusterConfig } from '../../../src/config/sections/cluster.js';

const base: ClusterConfig = {
  listen: { host: '0.0.0.0', port: 5001 },
  peers: { kind: 'static', addresses: ['10.0.0.2:5001', '10.0.0.1:5001', '10.0.0.3:5001'] },
  self: null,
  secret: 'x'.repeat(16),
};

describe('cluster membership', () => {
  it('finds self among static peers by this host’s addresses and listen’s port', () => {
    const r = clusterMembership({ cluster: base, resolved: null, ownAddresses: ['127.0.0.1', '10.0.0.3', 'fe80::1'] });
    expect(r).toEqual({ ok: true, value: { members: ['10.0.0.1:5001', '10.0.0.2:5001', '10.0.0.3:5001'], self: '10.0.0.3:5001' } });
  });

  it('says so when no peer is this host, or several are', () => {
    const none = clusterMembership({ cluster: base, resolved: null, ownAddresses: ['127.0.0.1', '10.0.0.9'] });
    expect(none.ok).toBe(false);
    expect(!none.ok && none.problems[0]).toEqual({ path: 'cluster.self', message: expect.stringMatching(/not among the peers.*set cluster.self/) });
    const two = clusterMembership({ cluster: base, resolved: null, ownAddresses: ['10.0.0.1', '10.0.0.2'] });
    expect(!two.ok && two.problems[0]!.message).toMatch(/several peers/);
  });

  it('takes an explicit self as is', () => {
    const r = clusterMembership({ cluster: { ...base, self: '10.0.0.2:5001' }, resolved: null, ownAddresses: [] });
    expect(r.ok && r.value.self).toBe('10.0.0.2:5001');
  });

  it('builds the members from a dns: answer, with the peer port; self joins its ring before DNS lists it', () => {
    const dns: ClusterConfig = { ...base, peers: { kind: 'dns', name: 'tasks.regcache', port: 5001 } };
    const r = clusterMembership({ cluster: dns, resolved: ['10.0.1.7', '10.0.1.5', '10.0.1.5'], ownAddresses: ['10.0.1.5'] });
    expect(r).toEqual({ ok: true, value: { members: ['10.0.1.5:5001', '10.0.1.7:5001'], self: '10.0.1.5:5001' } });
    const early = clusterMembership({ cluster: { ...dns, self: '10.0.1.9:5001' }, resolved: ['10.0.1.7'], ownAddresses: [] });
    expect(early.ok && early.value.members).toEqual(['10.0.1.7:5001', '10.0.1.9:5001']);
    const unresolved = clusterMembership({ cluster: dns, resolved: null, ownAddresses: ['10.0.1.5'] });
    expect(!unresolved.ok && unresolved.problems[0]).toEqual({ path: 'cluster.peers', message: 'tasks.regcache resolved to no address yet' });
    const v6 = clusterMembership({ cluster: dns, resolved: ['FD00::5'], ownAddresses: ['fd00::5'] });
    expect(v6.ok && v6.value).toEqual({ members: ['[fd00::5]:5001'], self: '[fd00::5]:5001' });
  });

  it('diffs memberships', () => {
    expect(membershipDiff(['a', 'b', 'c'], ['b', 'c', 'd'])).toEqual({ added: ['d'], removed: ['a'] });
    expect(membershipDiff(['a'], ['a'])).toEqual({ added: [], removed: [] });
    expect(sameMembers(['b', 'a'], ['a', 'b', 'a'])).toBe(true);
    expect(sameMembers(['a'], ['a', 'c'])).toBe(false);
    expect(sameMembers(null, [])).toBe(false);
  });
});
