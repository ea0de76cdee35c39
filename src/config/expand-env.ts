import type { ConfigProblem } from './problems.js';
import { joinPath } from './problems.js';

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$/g;

/**
 * Expands `${VAR}` and `${VAR:-default}` in every string scalar of a parsed document.
 * Expansion happens after YAML parsing so a value can never inject YAML structure.
 * `$$` is a literal `$`. An unset `${VAR}` without a default is a problem, not an empty string,
 * because a silently empty upstream or password is worse than a clear error.
 */
export function expandEnv(doc: unknown, env: Readonly<Record<string, string | undefined>>): { value: unknown; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const walk = (node: unknown, path: Array<string | number>): unknown => {
    if (typeof node === 'string') return expandString(node, env, path, problems);
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(node)) out[key] = walk(value, [...path, key]);
      return out;
    }
    return node;
  };
  return { value: walk(doc, []), problems };
}

function expandString(
  text: string,
  env: Readonly<Record<string, string | undefined>>,
  path: Array<string | number>,
  problems: ConfigProblem[],
): string {
  return text.replace(VARIABLE, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$';
    const value = env[name!];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    if (value === '') return '';
    problems.push({ path: joinPath(path), message: `environment variable ${name} is not set (use \${${name}:-} to allow empty)` });
    return '';
  });
}
