/**
 * Why a pass runs, as the scheduler joins them ("file change registries.yaml, api reload"). Some come
 * from an operator; the reconciler treats those differently (a failed cache start is retried at once).
 */
export const TRIGGER = {
  startup: 'startup',
  apiReload: 'api reload',
  sighup: 'SIGHUP',
  configFile: (event: string) => `file ${event}`,
  referencedFile: (event: string) => `referenced file ${event}`,
} as const;

/** True when one of the joined reasons is an operator's: startup, an API reload, SIGHUP, an edited file. */
export function operatorAsked(reasons: string): boolean {
  return reasons
    .split(', ')
    .some(
      (r) => r === TRIGGER.startup || r === TRIGGER.apiReload || r === TRIGGER.sighup || r.startsWith('file ') || r.startsWith('referenced file '),
    );
}
