import { describe, expect, it } from 'vitest';
import { repositoryPatternRegex, repositoryRuleEntries, repositoryVerdict } from '../../../src/apply/nginx/repository-rules.js';
import { parseConfig } from '../../../src/config/parse.js';
import { repositoryPatternProblem } from '../../../src/config/sections/repositories.js';

const parse = (repositories: string) =>
  parseConfig(
    `
domain: registry.example.com
registries:
  docker.io:
    upstream: https://registry-1.docker.io
    repositories: ${repositories}
`,
    { source: '/etc/regcache/registries.yaml', env: {} },
  );

describe('registries.<name>.repositories: validation', () => {
  it('takes allow and deny lists into the model', () => {
    const result = parse('{ allow: [library/*, bitnami/**, myorg/app], deny: [library/ubuntu] }');
    expect(result.ok && result.value.registries[0]!.repositories).toEqual({
      allow: ['library/*', 'bitnami/**', 'myorg/app'],
      deny: ['library/ubuntu'],
    });
  });

  it('is null without rules, and an empty allow list allows nothing (not the same as no list)', () => {
    const none = parse('{}');
    expect(none.ok && none.value.registries[0]!.repositories).toBeNull();
    const empty = parse('{ allow: [] }');
    expect(empty.ok && empty.value.registries[0]!.repositories).toEqual({ allow: [], deny: [] });
  });

  it('names each bad pattern by its path and says why', () => {
    const result = parse(`{ allow: ["library/*", "Library/Alpine", "a//b"], deny: ["x/**y", "/lead", "(a|b)"], extra: 1 }`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const byPath = Object.fromEntries(result.problems.map((p) => [p.path, p.message]));
    expect(Object.keys(byPath).sort()).toEqual([
      'registries.docker.io.repositories.allow.1',
      'registries.docker.io.repositories.allow.2',
      'registries.docker.io.repositories.deny.0',
      'registries.docker.io.repositories.deny.1',
      'registries.docker.io.repositories.deny.2',
      'registries.docker.io.repositories.extra',
    ]);
    expect(byPath['registries.docker.io.repositories.allow.1']).toContain('"Library/Alpine"');
    expect(byPath['registries.docker.io.repositories.deny.0']).toContain("'**' must be a whole segment");
    expect(byPath['registries.docker.io.repositories.deny.2']).toContain('segment "(a|b)"');
  });

  it.each([
    ['regex metacharacters', 'a.*|.*'],
    ['an nginx quote', 'a"; return 200 "x'],
    ['a map terminator', 'a;'],
    ['a variable', '$host'],
    ['a backslash', 'a\\z'],
    ['a newline', 'a\nb'],
    ['a brace', 'a{1,2}'],
    ['whitespace', 'a b'],
    ['a NUL', 'a\u0000'],
    ['upper case', 'A'],
    ['too long', 'a'.repeat(256)],
    ['empty', ''],
  ])('refuses %s', (_what, pattern) => {
    expect(repositoryPatternProblem(pattern)).not.toBeNull();
    expect(() => repositoryPatternRegex(pattern)).toThrow(/repository pattern/);
  });
});

describe('repository patterns → nginx regexes (pure)', () => {
  it('compiles segments: * within one segment, ** one or more segments, everything else escaped', () => {
    expect(repositoryPatternRegex('library/*')).toBe('library/[^/]+');
    expect(repositoryPatternRegex('bitnami/**')).toBe('bitnami/[^/]+(?:/[^/]+)*');
    expect(repositoryPatternRegex('app-*/x.y_z')).toBe('app\\-[^/]*/x\\.y\\_z');
  });

  it('orders a cache’s entries deny, allow, rest-not-allowed, anchored to its upstream id', () => {
    expect(repositoryRuleEntries('cache_docker_io', { allow: ['library/*'], deny: ['library/ubuntu'] })).toEqual([
      { match: '~^cache_docker_io\\|(?:library/ubuntu)\\z', verdict: 'denied' },
      { match: '~^cache_docker_io\\|(?:library/[^/]+)\\z', verdict: '' },
      { match: '~^cache_docker_io\\|.', verdict: 'not_allowed' },
    ]);
    expect(repositoryRuleEntries('cache_ghcr_io', { allow: null, deny: ['evil/**'] })).toEqual([
      { match: '~^cache_ghcr_io\\|(?:evil/[^/]+(?:/[^/]+)*)\\z', verdict: 'denied' },
    ]);
    expect(repositoryRuleEntries('cache_quay_io', { allow: [], deny: [] })).toEqual([{ match: '~^cache_quay_io\\|.', verdict: 'not_allowed' }]);
    expect(repositoryRuleEntries('cache_x', null)).toEqual([]);
  });

  it('produces only characters that are inert inside an nginx double-quoted map key', () => {
    const entries = repositoryRuleEntries('cache_a', { allow: ['a-b/*', 'c.d/**', 'e_f/g__h'], deny: ['x/y'] });
    for (const e of entries) expect(e.match).toMatch(/^~\^[a-z0-9_\\|/()?:*+.[\]^-]+$/);
  });

  const rules = { allow: ['library/*', 'bitnami/**', 'myorg/app'], deny: ['library/ubuntu', 'bitnami/secret/**'] };
  it.each([
    ['library/alpine', ''],
    ['library/ubuntu', 'denied'],
    ['library/alpine/extra', 'not_allowed'],
    ['bitnami/redis', ''],
    ['bitnami/charts/redis', ''],
    ['bitnami', 'not_allowed'],
    ['bitnami/secret/x', 'denied'],
    ['myorg/app', ''],
    ['myorg/app2', 'not_allowed'],
    ['myorg/app/sub', 'not_allowed'],
    ['other/x', 'not_allowed'],
    ['libraryxalpine', 'not_allowed'],
  ])('%s → %s', (repository, verdict) => {
    expect(repositoryVerdict(rules, repository)).toBe(verdict);
  });

  it('a "." in a pattern is literal, not any character', () => {
    expect(repositoryVerdict({ allow: ['a.b'], deny: [] }, 'a.b')).toBe('');
    expect(repositoryVerdict({ allow: ['a.b'], deny: [] }, 'axb')).toBe('not_allowed');
  });
});
