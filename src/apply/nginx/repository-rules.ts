import { repositoryPatternProblem, type RepositoryRules } from '../../config/sections/repositories.js';

/** Why the router refuses a repository: it matches a deny pattern, or an allow list exists and it matches none. */
export type RepositoryVerdict = 'denied' | 'not_allowed';

/** One entry of the router's `map "$regcache_backend|<repository>" $regcache_repository_rule`. */
export interface RepositoryRuleEntry {
  /** An nginx map regex (`~^…`), safe inside double quotes: only `[a-z0-9_^|\\/()?:*+.\[\]-]` and `~`. */
  match: string;
  /** "" lets the request through. */
  verdict: RepositoryVerdict | '';
}

// One segment of a repository name: what a `*` or `**` may stand for never crosses a '/'.
const SEGMENT_CHARS = '[^/]';

/**
 * A repository pattern as a regex body (no anchors). Pure; throws on a pattern validation would have
 * refused, so nothing outside the repository alphabet ever reaches nginx.
 */
export function repositoryPatternRegex(pattern: string): string {
  const problem = repositoryPatternProblem(pattern);
  if (problem) throw new Error(`repository pattern ${problem}`);
  return pattern
    .split('/')
    .map((segment) => {
      if (segment === '**') return `${SEGMENT_CHARS}+(?:/${SEGMENT_CHARS}+)*`;
      if (segment === '*') return `${SEGMENT_CHARS}+`;
      // Literal characters are escaped even where PCRE would take them literally ('-', '_'): a
      // character we did not think of can only ever mean itself.
      return segment.replace(/[^a-z0-9*]/g, (c) => `\\${c}`).replace(/\*/g, `${SEGMENT_CHARS}*`);
    })
    .join('/');
}

/**
 * The map entries for one cache, in the order nginx must try them (map regexes: first match wins):
 * deny patterns, then allow patterns (through), then — when there is an allow list — anything else
 * (not allowed). Requests without a repository (`/v2/`, `_catalog`) have an empty name and match none.
 */
export function repositoryRuleEntries(upstreamId: string, rules: RepositoryRules | null): RepositoryRuleEntry[] {
  if (!rules) return [];
  if (!/^[a-z0-9_]+$/.test(upstreamId)) throw new Error(`upstream id "${upstreamId}" is not [a-z0-9_]`);
  const prefix = `~^${upstreamId}\\|`;
  const anyOf = (patterns: string[]) => `${prefix}(?:${patterns.map(repositoryPatternRegex).join('|')})\\z`;
  const entries: RepositoryRuleEntry[] = [];
  if (rules.deny.length > 0) entries.push({ match: anyOf(rules.deny), verdict: 'denied' });
  if (rules.allow !== null) {
    if (rules.allow.length > 0) entries.push({ match: anyOf(rules.allow), verdict: '' });
    entries.push({ match: `${prefix}.`, verdict: 'not_allowed' });
  }
  return entries;
}

/** Whether a repository name passes the rules, decided the way the rendered nginx map decides it. For tests and tools. */
export function repositoryVerdict(rules: RepositoryRules | null, repository: string): RepositoryVerdict | '' {
  for (const entry of repositoryRuleEntries('x', rules)) {
    const body = entry.match.slice(1).replace(/\\z$/, '$');
    if (new RegExp(body).test(`x|${repository}`)) return entry.verdict;
  }
  return '';
}
