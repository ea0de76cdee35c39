import { createHash } from 'node:crypto';
import type { UpstreamCredentials } from '../config/model.js';

/** Everything a runtime needs to run one registry cache. */
export interface CacheSpec {
  name: string;
  slug: string;
  upstream: string;
  /** What the cache proxies to (proxy.remoteurl): nginx's egress for this cache, or the upstream itself. */
  remoteUrl: string;
  credentials: UpstreamCredentials | null;
  /**
   * Serve only what is already cached. distribution 2.8 refuses to start in proxy mode when
   * it cannot reach the upstream at start-up, so an unreachable upstream would take its cache down too.
   */
  offline: boolean;
  /** Hash of every field that shapes the running cache; a change means replace. */
  specHash: string;
}

export function hashSpec(fields: unknown): string {
  return createHash('sha256').update(stableStringify(fields)).digest('hex').slice(0, 16);
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
