import type { EgressLogEntry } from './egress-counters.js';
import { isoTime } from '../../util/clock.js';

/**
 * Per-mirror numbers of the caches whose `upstream:` is a list, from the egress nginx's log: each
 * request lists the hop listeners nginx tried in order ($upstream_addr) and what each answered
 * ($upstream_status). A hop listener stands for one mirror. Plain data.
 */

/** A mirror list as the egress nginx serves it: the mirrors in order, each with its hop listener (host:port). */
export type MirrorLists = ReadonlyMap<string, ReadonlyArray<{ origin: string; hop: string }>>;

export interface MirrorStats {
  /** The mirror's URL. */
  address: string;
  /** `backing-off`: it failed its last request less than egress.mirrorBackoff ago, so nginx skips it. */
  state: 'up' | 'backing-off';
  /** Requests the egress nginx sent to this mirror. */
  requests: number;
  /** Of those, the ones that failed over: no connection, timeout, 5xx or 429. */
  failures: number;
  /** Requests by the mirror's status code (`502` also when it could not be reached). */
  codes: Record<string, number>;
  lastError: string | null;
  lastErrorAt: string | null;
  /** The last time this mirror answered a request without failing. */
  lastServedAt: string | null;
}

/** Statuses nginx fails over on (proxy_next_upstream in the egress template); null is no answer at all. */
export function isMirrorFailure(status: number | null): boolean {
  return status === null || status === 429 || (status >= 500 && status <= 504);
}

function failureText(status: number | null): string {
  if (status === null) return 'no answer';
  if (status === 429) return 'HTTP 429 (rate limited)';
  if (status === 502) return 'HTTP 502 (the mirror refused the connection, failed, or answered 502)';
  if (status === 504) return 'HTTP 504 (the mirror did not answer within cache.stallTimeout, or answered 504)';
  return `HTTP ${status}`;
}

interface Tally {
  requests: number;
  failures: number;
  codes: Record<string, number>;
  lastError: string | null;
  lastErrorMs: number | null;
  lastServedMs: number | null;
}

export interface MirrorCounters {
  /** The lists now served and the backoff; counts of mirrors no longer listed are dropped. */
  configure(lists: MirrorLists, backoffMs: number): void;
  /** `nowMs` dates a line without msec. */
  record(entry: EgressLogEntry, nowMs: number): void;
  /** A vhost's mirrors in order; empty for a single upstream. */
  get(vhost: string, nowMs: number): MirrorStats[];
}

export function createMirrorCounters(): MirrorCounters {
  let lists: MirrorLists = new Map();
  let backoffMs = 30_000;
  /** hop listener → `vhost|origin` */
  let byHop = new Map<string, string>();
  const tallies = new Map<string, Tally>();
  const key = (vhost: string, origin: string) => `${vhost}|${origin}`;

  return {
    configure(next, nextBackoffMs) {
      backoffMs = nextBackoffMs;
      if (next === lists) return;
      lists = next;
      byHop = new Map();
      for (const [vhost, mirrors] of lists) for (const m of mirrors) byHop.set(m.hop, key(vhost, m.origin));
      const live = new Set(byHop.values());
      for (const k of tallies.keys()) if (!live.has(k)) tallies.delete(k);
    },
    record(entry, nowMs) {
      for (const attempt of entry.attempts) {
        const k = byHop.get(attempt.address);
        if (k === undefined || !k.startsWith(`${entry.vhost}|`)) continue;
        let t = tallies.get(k);
        if (!t) tallies.set(k, (t = { requests: 0, failures: 0, codes: {}, lastError: null, lastErrorMs: null, lastServedMs: null }));
        t.requests++;
        const code = attempt.status === null ? 'none' : String(attempt.status);
        t.codes[code] = (t.codes[code] ?? 0) + 1;
        const at = entry.timeMs ?? nowMs;
        if (isMirrorFailure(attempt.status)) {
          t.failures++;
          t.lastError = failureText(attempt.status);
          t.lastErrorMs = at;
        } else {
          t.lastServedMs = at;
        }
      }
    },
    get(vhost, nowMs) {
      return (lists.get(vhost) ?? []).map((m) => {
        const t = tallies.get(key(vhost, m.origin));
        const failedLast = t?.lastErrorMs != null && (t.lastServedMs === null || t.lastErrorMs >= t.lastServedMs);
        // As nginx counts fail_timeout: in whole seconds, skipped while now - failed <= fail_timeout.
        const backingOff = failedLast && Math.floor(nowMs / 1000) - Math.floor(t!.lastErrorMs! / 1000) <= backoffMs / 1000;
        return {
          address: m.origin,
          state: backingOff ? 'backing-off' : 'up',
          requests: t?.requests ?? 0,
          failures: t?.failures ?? 0,
          codes: { ...(t?.codes ?? {}) },
          lastError: t?.lastError ?? null,
          lastErrorAt: isoTime(t?.lastErrorMs ?? null),
          lastServedAt: isoTime(t?.lastServedMs ?? null),
        };
      });
    },
  };
}
