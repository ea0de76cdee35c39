import type { RegcacheConfig } from '../config/model.js';
import type { ConfigProblem } from '../config/problems.js';
import type { Membership } from '../cluster/membership.js';

export interface AppliedConfig {
  config: RegcacheConfig;
  appliedAt: string;
}

export interface RejectedConfig {
  message: string;
  problems: ConfigProblem[];
  at: string;
}

export interface ReloadRecord {
  result: 'ok' | 'failed' | 'unchanged';
  at: string;
  message: string | null;
}

/** What the reconciler knows; the API and page read it. Mutated only by the reconciler. */
export interface DaemonState {
  configPath: string;
  generation: number;
  applied: AppliedConfig | null;
  lastError: RejectedConfig | null;
  lastReload: ReloadRecord | null;
  /** Registry names present in the nginx map that is live now. */
  routed: Set<string>;
  /** True once nginx answered with the generation we last applied. */
  nginxServing: boolean;
  /** Caches that fetch their upstream through nginx's egress now: name → the egress address. */
  egress: Map<string, string>;
  /** Generation the egress nginx serves (0: not running). */
  egressGeneration: number;
  /** The cluster membership the live router config was rendered with; null: a single node. */
  cluster: Membership | null;
}

export function createDaemonState(configPath: string): DaemonState {
  return {
    configPath,
    generation: 0,
    applied: null,
    lastError: null,
    lastReload: null,
    routed: new Set(),
    nginxServing: false,
    egress: new Map(),
    egressGeneration: 0,
    cluster: null,
  };
}
