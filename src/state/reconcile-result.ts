import type { ConfigProblem } from '../config/problems.js';

/** How a reconcile pass ended. */
export type ReconcileOutcome = 'applied' | 'unchanged' | 'rejected' | 'failed';

export interface ReconcileResult {
  outcome: ReconcileOutcome;
  generation: number;
  problems: ConfigProblem[];
  message: string | null;
}
