import { z } from 'zod';

/**
 * `registries.<name>.repositories:` — which repositories a cache serves (issue: cache control). A cache
 * with upstream credentials would otherwise be an open proxy to everything those credentials can read.
 *
 * Patterns name repositories as they travel on the wire (`library/alpine` for Docker Hub's `alpine`):
 * `*` matches within one path segment (`library/*`, `app-*`), a `**` segment one or more segments
 * (`bitnami/**`), anything else is literal. Only repository characters are accepted, so a pattern can
 * never carry regex or nginx syntax.
 */

// A segment: `**`, or lower-case letters, digits, '.', '_', '-' and '*' (distribution's name grammar plus the wildcard).
const SEGMENT = /^(?:\*\*|[a-z0-9._*-]+)$/;

/** Why a pattern is not usable, or null. */
export function repositoryPatternProblem(pattern: string): string | null {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > 255) return 'must be at most 255 characters (the longest repository name)';
  const segments = pattern.split('/');
  for (const segment of segments) {
    if (segment === '') return `"${pattern}": empty path segment (leading, trailing or double '/')`;
    if (!SEGMENT.test(segment)) {
      return `"${pattern}": segment "${segment}" may hold only lower-case letters, digits, '.', '_', '-' and '*', or be '**'`;
    }
    if (segment.includes('**') && segment !== '**') return `"${pattern}": '**' must be a whole segment (e.g. bitnami/**)`;
  }
  return null;
}

const pattern = z.string({ invalid_type_error: 'must be a string' }).superRefine((value, ctx) => {
  const problem = repositoryPatternProblem(value);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

export const registryRepositoriesSchema = z
  .object({
    /** Only repositories matching one of these are served; absent: every repository not denied. */
    allow: z.array(pattern).max(1000).optional(),
    /** Repositories matching one of these are refused, even when an allow pattern matches too. */
    deny: z.array(pattern).max(1000).optional(),
  })
  .strict()
  .optional();

type RawRepositories = z.infer<typeof registryRepositoriesSchema>;

/** The repository rules of one cache. */
export interface RepositoryRules {
  /** null: every repository is allowed (unless denied); [] allows none. */
  allow: string[] | null;
  deny: string[];
}

export function toRepositoryRules(raw: RawRepositories): RepositoryRules | null {
  if (!raw || (raw.allow === undefined && (raw.deny === undefined || raw.deny.length === 0))) return null;
  return { allow: raw.allow ? [...new Set(raw.allow)] : null, deny: [...new Set(raw.deny ?? [])] };
}
