import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/parse.js';
import { effectiveCache, minFreeBytes } from '../../../src/config/sections/cache.js';

const parse = (text: string) => parseConfig(text, { source: '/etc/regcache/registries.yaml', env: {} });
const withCache = (global: string, perRegistry = '') => `
domain: registry.example.com
${global}
registries:
  docker.io:
    upstream: https://registry-1.docker.io
${perRegistry}
`;

function problems(text: string) {
  const r = parse(text);
  if (r.ok) throw new Error('expected problems');
  return r.problems;
}

describe('cache section', () => {
  it('has defaults: 10 GiB per registry, 30 s tag TTL, 1 h lock, 30 d inactive, 60 s stall, 2 % free', () => {
    const r = parse(withCache(''));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.value.cache).toEqual({
      maxSizeBytes: 10 * 1024 ** 3,
      tagTtlSeconds: 30,
      lockTimeoutSeconds: 3600,
      inactiveSeconds: 30 * 86_400,
      stallTimeoutSeconds: 60,
      minFreeSpace: { percent: 2 },
    });
    expect(r.value.registries[0]!.cache).toBeNull();
  });

  it('reads sizes and durations in the units users write', () => {
    const r = parse(withCache('cache: { maxSize: 500M, tagTTL: "0", lockTimeout: 90m, inactive: 7d, stallTimeout: 2m, minFreeSpace: 5g }'));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.value.cache).toEqual({
      maxSizeBytes: 500 * 1024 ** 2,
      tagTtlSeconds: 0,
      lockTimeoutSeconds: 5400,
      inactiveSeconds: 7 * 86_400,
      stallTimeoutSeconds: 120,
      minFreeSpace: { bytes: 5 * 1024 ** 3 },
    });
  });

  it('rejects a stallTimeout or minFreeSpace out of range, naming the field', () => {
    for (const [text, field] of [
      ['cache: { stallTimeout: 0 }', 'cache.stallTimeout'],
      ['cache: { stallTimeout: 2h }', 'cache.stallTimeout'],
      ['cache: { minFreeSpace: 60% }', 'cache.minFreeSpace'],
      ['cache: { minFreeSpace: lots }', 'cache.minFreeSpace'],
    ] as const) {
      const r = parse(withCache(text));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems.map((p) => p.path)).toContain(field);
    }
  });

  it('turns minFreeSpace into bytes for a file system', () => {
    expect(minFreeBytes({ percent: 2 }, 1000 * 1024 ** 2)).toBe(Math.floor(20 * 1024 ** 2));
    expect(minFreeBytes({ bytes: 123 }, 1000)).toBe(123);
  });

  it('merges a per-registry override over the global section', () => {
    const r = parse(withCache('cache: { maxSize: 2g }', '    cache: { tagTTL: 120 }'));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const registry = r.value.registries[0]!;
    expect(registry.cache).toEqual({ maxSizeBytes: null, tagTtlSeconds: 120 });
    expect(effectiveCache(r.value.cache, registry.cache)).toMatchObject({ maxSizeBytes: 2 * 1024 ** 3, tagTtlSeconds: 120 });
  });

  it('refuses values that are not plain sizes or durations, naming the field', () => {
    expect(problems(withCache('cache: { maxSize: "10g; evil" }'))).toEqual([{ path: 'cache.maxSize', message: expect.stringMatching(/not a size/) }]);
    expect(problems(withCache('cache: { maxSize: 512k }'))).toEqual([{ path: 'cache.maxSize', message: 'must be between 1m and 1024t' }]);
    expect(problems(withCache('cache: { tagTTL: -1 }'))).toEqual([{ path: 'cache.tagTTL', message: expect.stringMatching(/not a duration/) }]);
    expect(problems(withCache('cache: { tagTTL: 2d }'))).toEqual([{ path: 'cache.tagTTL', message: 'must be between 0 and 86400 seconds' }]);
    expect(problems(withCache('cache: { lockTimeout: 1s }'))).toEqual([
      { path: 'cache.lockTimeout', message: 'must be between 10 and 604800 seconds' },
    ]);
    expect(problems(withCache('cache: { colour: red }'))).toEqual([{ path: 'cache.colour', message: 'unknown key' }]);
    expect(problems(withCache('', '    cache: { lockTimeout: 60 }'))).toEqual([
      { path: 'registries.docker.io.cache.lockTimeout', message: 'unknown key' },
    ]);
    expect(problems(withCache('', '    cache: { maxSize: "1g}" }'))).toEqual([
      { path: 'registries.docker.io.cache.maxSize', message: expect.stringMatching(/not a size/) },
    ]);
  });
});
