import type { AccessLogEntry } from './access-log-entry.js';

/** Requests this node passed to each peer on the ring, by the status the peer answered ("error" when none). */
export interface PeerCounters {
  record(forwarded: NonNullable<AccessLogEntry['forwarded']>): void;
  /** peer → code → count, since the daemon started. */
  snapshot(): Map<string, Map<string, number>>;
}

export function createPeerCounters(): PeerCounters {
  const counts = new Map<string, Map<string, number>>();
  return {
    record(forwarded) {
      for (const { peer, status } of forwarded) {
        const byCode = counts.get(peer) ?? new Map<string, number>();
        const code = status === null ? 'error' : String(status);
        byCode.set(code, (byCode.get(code) ?? 0) + 1);
        counts.set(peer, byCode);
      }
    },
    snapshot: () => new Map([...counts].map(([peer, byCode]) => [peer, new Map(byCode)])),
  };
}
