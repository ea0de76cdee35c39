import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { createRepeating } from '../util/repeat.js';
import { sameMembers } from './membership.js';

/** A DNS name's addresses (A and AAAA); the daemon passes getaddrinfo, tests a fake. */
export type LookupAll = (name: string) => Promise<string[]>;

/**
 * Re-resolves the `dns:` peers name (Swarm's tasks.<service>, a headless Service) every few seconds
 * and calls onChange when the answer changes, so a pass re-renders the ring. A failed lookup keeps
 * the last answer: a DNS hiccup must not empty the ring.
 */
export interface PeerResolver {
  /** The last answer for `name`; asked now when there is none yet (or `fresh`). Null when it never answered. */
  addresses(name: string, opts?: { fresh?: boolean }): Promise<string[] | null>;
  start(): void;
  stop(): Promise<void>;
}

export function createPeerResolver(opts: {
  lookup: LookupAll;
  clock: Clock;
  logger: Logger;
  intervalMs?: number;
  onChange: (name: string, before: string[] | null, after: string[]) => void;
}): PeerResolver {
  const log = opts.logger.child({ component: 'peer-resolver' });
  /** The name the last pass asked for: the one worth re-resolving. */
  let wanted: string | null = null;
  const answers = new Map<string, string[]>();

  const resolve = async (name: string): Promise<string[] | null> => {
    try {
      const found = [...new Set(await opts.lookup(name))].sort();
      return found.length > 0 ? found : null;
    } catch (err) {
      log.warn({ name, err: errorMessage(err) }, 'cluster peers: DNS lookup failed; the last answer stays');
      return null;
    }
  };

  const repeating = createRepeating({
    clock: opts.clock,
    intervalMs: opts.intervalMs ?? 5000,
    run: async () => {
      const name = wanted;
      if (name === null) return;
      const found = await resolve(name);
      if (found === null || name !== wanted) return;
      const before = answers.get(name) ?? null;
      if (sameMembers(before, found)) return;
      answers.set(name, found);
      log.info({ name, before, after: found }, 'cluster peers changed');
      opts.onChange(name, before, found);
    },
  });

  return {
    async addresses(name, o = {}) {
      wanted = name;
      const known = answers.get(name);
      if (known && !o.fresh) return known;
      const found = await resolve(name);
      if (found) answers.set(name, found);
      return found ?? known ?? null;
    },
    start: () => repeating.start(),
    stop: () => repeating.stop(),
  };
}
