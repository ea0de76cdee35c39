import type { CacheSpec } from '../desired/cache-spec.js';

/** What the runtime reports it has, reduced to what planning needs. */
export interface ObservedCache {
  name: string;
  specHash: string;
}

export interface CachePlan {
  start: CacheSpec[];
  replace: CacheSpec[];
  keep: CacheSpec[];
  /** Names of caches that no registry wants any more. */
  remove: string[];
}

/** Diff observed caches against desired ones. Pure. */
export function planCaches(observed: readonly ObservedCache[], desired: readonly CacheSpec[]): CachePlan {
  const byName = new Map(observed.map((c) => [c.name, c]));
  const wanted = new Set(desired.map((c) => c.name));
  const plan: CachePlan = { start: [], replace: [], keep: [], remove: [] };
  for (const spec of desired) {
    const current = byName.get(spec.name);
    if (!current) plan.start.push(spec);
    else if (current.specHash !== spec.specHash) plan.replace.push(spec);
    else plan.keep.push(spec);
  }
  for (const c of observed) if (!wanted.has(c.name)) plan.remove.push(c.name);
  plan.remove.sort();
  return plan;
}

export function isEmptyPlan(plan: CachePlan): boolean {
  return plan.start.length === 0 && plan.replace.length === 0 && plan.remove.length === 0;
}
