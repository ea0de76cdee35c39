import type { ConfigProblem, Result } from '../config/problems.js';
import { formatPeer, type ClusterConfig, type PeerAddress } from '../config/sections/cluster.js';

/** Who is in the cluster now: the ring's servers (this node included) and which of them is this node. */
export interface Membership {
  members: PeerAddress[];
  self: PeerAddress;
}

export interface MembershipInput {
  cluster: ClusterConfig;
  /** Addresses the `dns:` name resolved to (last answer); null before any answer or for static peers. */
  resolved: readonly string[] | null;
  /** This host's own IP addresses (every interface), to find self among the peers. */
  ownAddresses: readonly string[];
}

/**
 * Config + resolved addresses + own addresses → members and self, or problems (which reject the
 * pass like a config error: the last good membership keeps serving). Pure.
 */
export function clusterMembership(input: MembershipInput): Result<Membership> {
  const { cluster } = input;
  const peers = cluster.peers;
  const members = peers.kind === 'static' ? [...peers.addresses] : (input.resolved ?? []).map((ip) => formatPeer(ip.toLowerCase(), peers.port));
  const sorted = [...new Set(members)].sort();
  if (peers.kind === 'dns' && sorted.length === 0 && cluster.self === null) {
    return fail('cluster.peers', `${peers.name} resolved to no address yet`);
  }
  let self = cluster.self;
  if (self === null) {
    const own = new Set(input.ownAddresses.map((a) => formatPeer(a.toLowerCase(), cluster.listen.port)));
    const mine = sorted.filter((m) => own.has(m));
    if (mine.length === 0) {
      return fail(
        'cluster.self',
        `this node is not among the peers (${sorted.join(', ') || 'none'}): none is one of this host's addresses on port ${cluster.listen.port}; set cluster.self`,
      );
    }
    if (mine.length > 1) return fail('cluster.self', `several peers (${mine.join(', ')}) are this host's addresses; set cluster.self`);
    self = mine[0]!;
  } else if (peers.kind === 'dns' && !sorted.includes(self)) {
    // A task that is not in DNS yet (just started) still belongs on its own ring.
    sorted.push(self);
    sorted.sort();
  }
  return { ok: true, value: { members: sorted, self } };
}

function fail(path: string, message: string): Result<Membership> {
  const problems: ConfigProblem[] = [{ path, message }];
  return { ok: false, problems };
}

export interface MembershipChange {
  added: PeerAddress[];
  removed: PeerAddress[];
}

export function membershipDiff(before: readonly PeerAddress[], after: readonly PeerAddress[]): MembershipChange {
  return { added: after.filter((m) => !before.includes(m)), removed: before.filter((m) => !after.includes(m)) };
}

export function sameMembers(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
