import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import { isoTime } from '../util/clock.js';
import { createRepeating } from '../util/repeat.js';
import type { PeerAddress } from '../config/sections/cluster.js';

/** Asks one peer's listener whether it serves (GET /__regcache/peer with the secret): null when it does, else why not. */
export type PeerProbe = (peer: PeerAddress, secret: string) => Promise<string | null>;

export interface PeerHealth {
  up: boolean;
  /** When the last probe finished (ISO); null before the first. */
  checkedAt: string | null;
  error: string | null;
}

/**
 * Probes every peer of the live membership (this node included) every few seconds. Status and
 * metrics show the result; nginx does its own failover per request (max_fails), so this changes no routing.
 */
export interface PeerHealthMonitor {
  health(peer: PeerAddress): PeerHealth | null;
  start(): void;
  stop(): Promise<void>;
}

export function createPeerHealthMonitor(opts: {
  probe: PeerProbe;
  /** The live ring's members and secret; null: no cluster. */
  target: () => { members: PeerAddress[]; secret: string } | null;
  clock: Clock;
  logger: Logger;
  intervalMs?: number;
  onChange?: (peer: PeerAddress, up: boolean, error: string | null) => void;
}): PeerHealthMonitor {
  const log = opts.logger.child({ component: 'peer-health' });
  const known = new Map<PeerAddress, PeerHealth>();
  const repeating = createRepeating({
    clock: opts.clock,
    intervalMs: opts.intervalMs ?? 5000,
    run: async () => {
      const target = opts.target();
      const members = target?.members ?? [];
      for (const peer of [...known.keys()]) if (!members.includes(peer)) known.delete(peer);
      await Promise.all(
        members.map(async (peer) => {
          const error = await opts.probe(peer, target!.secret).catch((err: unknown) => String(err));
          const before = known.get(peer);
          known.set(peer, { up: error === null, checkedAt: isoTime(opts.clock.now()), error });
          if (before && before.up !== (error === null)) {
            log.info({ peer, up: error === null, error }, 'cluster peer changed');
            opts.onChange?.(peer, error === null, error);
          }
        }),
      );
    },
  });
  return {
    health: (peer) => known.get(peer) ?? null,
    start: () => repeating.start(),
    stop: () => repeating.stop(),
  };
}
