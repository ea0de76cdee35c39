import type { RegistryConfig } from '../model.js';
import type { ConfigProblem } from '../problems.js';

const RISK =
  "distribution follows any redirect the upstream sends, to loopback, link-local and private addresses too (this host's admin API, a cloud metadata service), and the client gets what it finds there; keep egress on for upstreams you do not trust";

/**
 * Caches that fetch their upstream themselves (egress off) cannot have their redirects checked:
 * distribution 2.8 offers no redirect policy. One warning per registry switched off, one for those
 * following `egress.enabled: false`. Pure.
 */
export function directRedirectWarnings(registries: readonly RegistryConfig[], egressEnabled: boolean): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  const byDefault: string[] = [];
  for (const r of registries) {
    if (r.egress === false) warnings.push({ path: `registries.${r.name}.egress`, message: `${r.name} fetches from its upstream directly: ${RISK}` });
    else if (r.egress === null && !egressEnabled) byDefault.push(r.name);
  }
  if (byDefault.length > 0) {
    const named = byDefault.length > 3 ? `${byDefault.slice(0, 3).join(', ')} and ${byDefault.length - 3} more` : byDefault.join(', ');
    warnings.push({ path: 'egress.enabled', message: `${named} fetch from their upstreams directly: ${RISK}` });
  }
  return warnings;
}
