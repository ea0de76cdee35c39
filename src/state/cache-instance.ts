export type CacheState = 'starting' | 'running' | 'stopped' | 'crashed';

/** A running (or failing) cache as a runtime sees it. Never carries credentials. */
export interface CacheInstance {
  name: string;
  specHash: string;
  /** host:port that nginx proxies to. */
  address: string;
  /** host:port of the registry's debug listener (/debug/health, /debug/vars), if any. */
  debugAddress: string | null;
  state: CacheState;
  restarts: number;
  lastError: string | null;
  /** Runs offline (serves only what it holds), when the runtime knows; a restarted daemon learns it here. */
  offline?: boolean;
}
