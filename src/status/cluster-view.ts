import type { Membership } from '../cluster/membership.js';
import type { PeerHealth } from '../cluster/peer-health.js';
import { buildRing, ringShares } from '../cluster/ring.js';

/** One peer on the ring as /api/v1/status and the status page show it. */
export interface PeerStatus {
  address: string;
  self: boolean;
  /** The last probe of its peer listener answered; null before the first probe. */
  up: boolean | null;
  checkedAt: string | null;
  error: string | null;
  /** Share of the ring's keys it owns (0..1). */
  ringShare: number;
  /** Client requests this node passed to it, and by the status it answered. */
  forwarded: number;
  forwardedByCode: Record<string, number>;
}

export interface ClusterStatus {
  self: string;
  peers: PeerStatus[];
}

export function clusterStatus(
  membership: Membership | null,
  health: (peer: string) => PeerHealth | null,
  requests: Map<string, Map<string, number>>,
): ClusterStatus | null {
  if (!membership) return null;
  const shares = ringShares(buildRing(membership.members));
  return {
    self: membership.self,
    peers: membership.members.map((address) => {
      const h = health(address);
      const byCode = Object.fromEntries(requests.get(address) ?? []);
      return {
        address,
        self: address === membership.self,
        up: h ? h.up : null,
        checkedAt: h?.checkedAt ?? null,
        error: h?.error ?? null,
        ringShare: Math.round((shares.get(address) ?? 0) * 10000) / 10000,
        forwarded: Object.values(byCode).reduce((a, b) => a + b, 0),
        forwardedByCode: byCode,
      };
    }),
  };
}
