import type { AcceptSupport } from './nginx-features.js';
import type { NginxPaths } from './nginx-view.js';
import type { NginxWorker } from './nginx-workers.js';
import type { NginxProcessState } from '../../state/nginx-process-state.js';

export interface NginxTestResult {
  ok: boolean;
  output: string;
}

export type { NginxProcessState } from '../../state/nginx-process-state.js';

/** How regcache drives one nginx, wherever it runs (child process or container). */
export interface NginxDriver {
  readonly kind: 'process' | 'container';
  /** The live config file that nginx runs with. */
  readonly configFile: string;
  /** A scratch file beside it for candidates. */
  readonly candidateFile: string;
  /** Paths as nginx sees them, for the template. */
  readonly paths: NginxPaths;
  /**
   * The `user` directive for the rendered config (null: none), given `nginx.user` from the config.
   * Throws with a user-facing message when the configured user cannot work.
   */
  workerUser(configured: string | null): Promise<string | null>;
  /** How this nginx can see a request's whole Accept header (version, njs module). */
  acceptSupport(): Promise<AcceptSupport>;
  test(file: string): Promise<NginxTestResult>;
  /** Starts nginx with the live config when not running, else asks it to reload gracefully. */
  startOrReload(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Takes over the nginx an earlier daemon started on this prefix, when it is still that process
   * (pid and start time) and runs our config file; false when there is none.
   */
  adopt(): Promise<boolean>;
  /** Size of nginx's error log now, and what was appended since; a failed reload says why there. */
  errorLogSize(): Promise<number>;
  errorLogSince(offset: number): Promise<string>;
  /** Makes nginx reopen its log files (after they were renamed for rotation). */
  reopenLogs(): Promise<void>;
  state(): NginxProcessState;
  /**
   * nginx's worker processes now, so an apply can tell when the previous generation's workers stopped
   * taking connections; null when this driver cannot see them.
   */
  workers(): Promise<NginxWorker[] | null>;
}
