import type { CacheSpec } from '../../desired/cache-spec.js';

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

export interface RuntimeEvent {
  kind: 'started' | 'exited' | 'restarted' | 'error';
  name: string;
  message: string;
}

/** The port every cache runtime (child processes, Docker containers) implements. */
export interface CacheRuntime {
  readonly kind: 'process' | 'docker';
  list(): Promise<CacheInstance[]>;
  /** Creates the cache, or replaces it when its specHash differs. Resolves once started, not necessarily healthy. */
  ensure(spec: CacheSpec): Promise<CacheInstance>;
  remove(name: string): Promise<void>;
  onEvent(listener: (event: RuntimeEvent) => void): () => void;
  /** Daemon shutdown: release what this runtime owns (child processes stop; containers stay). */
  stop(): Promise<void>;
}
