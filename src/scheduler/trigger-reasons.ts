/**
 * Why a pass runs, as the scheduler joins them ("file change registries.yaml, api reload"). Some come
 * from an operator; the reconciler treats those differently (a failed cache start is retried at once).
 */
const CONFIG_FILE = 'file ';
const REFERENCED_FILE = 'referenced file ';

export const TRIGGER = {
  startup: 'startup',
  apiReload: 'api reload',
  sighup: 'SIGHUP',
  configFile: (event: string) => `${CONFIG_FILE}${event}`,
  referencedFile: (event: string) => `${REFERENCED_FILE}${event}`,
} as const;

const OPERATOR_REASONS = new Set<string>([TRIGGER.startup, TRIGGER.apiReload, TRIGGER.sighup]);

/** True when one of the joined reasons is an operator's: startup, an API reload, SIGHUP, an edited file. */
export function operatorAsked(reasons: string): boolean {
  return reasons.split(', ').some((r) => OPERATOR_REASONS.has(r) || r.startsWith(CONFIG_FILE) || r.startsWith(REFERENCED_FILE));
}
