import type { CacheSpec } from '../../desired/cache-spec.js';
import type { CacheInstance } from '../../state/cache-instance.js';

export type { CacheInstance, CacheState } from '../../state/cache-instance.js';

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
