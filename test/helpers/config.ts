import type { RegcacheConfig } from '../../src/config/model.js';
import { parseConfig } from '../../src/config/parse.js';

/** Parses a config text that the test knows to be valid; throws with the problems otherwise. */
export function configFrom(text: string, source = '/etc/regcache/registries.yaml'): RegcacheConfig {
  const result = parseConfig(text, { source, env: {} });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}
