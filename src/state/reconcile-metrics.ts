import type { ReconcileOutcome } from './reconcile-result.js';

/** What the reconciler reports about its passes; implemented by the metrics module (prom-client stays out of apply/). */
export interface ReconcileMetrics {
  passFinished(pass: { outcome: ReconcileOutcome; seconds: number; generation: number }): void;
}

export const noReconcileMetrics: ReconcileMetrics = { passFinished: () => undefined };
