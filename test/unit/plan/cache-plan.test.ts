import { describe, expect, it } from 'vitest';
import type { CacheSpec } from '../../../src/desired/cache-spec.js';
import { desiredState } from '../../../src/desired/desired-state.js';
import { parseConfig } from '../../../src/config/parse.js';
import { planCaches, isEmptyPlan } from '../../../src/plan/cache-plan.js';

const spec = (name: string, specHash: string): CacheSpec => ({
  name,
  slug: name,
  upstream: 'https://x',
  remoteUrl: 'https://x',
  credentials: null,
  offline: false,
  specHash,
});

describe('planCaches', () => {
  it('starts new, replaces changed, keeps equal and removes unwanted caches', () => {
    const plan = planCaches(
      [
        { name: 'a', specHash: '1' },
        { name: 'b', specHash: '2' },
        { name: 'gone', specHash: '3' },
      ],
      [spec('a', '1'), spec('b', 'changed'), spec('new', '9')],
    );
    expect(plan.start.map((s) => s.name)).toEqual(['new']);
    expect(plan.replace.map((s) => s.name)).toEqual(['b']);
    expect(plan.keep.map((s) => s.name)).toEqual(['a']);
    expect(plan.remove).toEqual(['gone']);
    expect(isEmptyPlan(plan)).toBe(false);
  });
});

describe('desiredState', () => {
  const config = (upstream: string, extra = '') => {
    const r = parseConfig(`domain: example.com\nregistries:\n  docker.io:\n    upstream: ${upstream}\n${extra}`, { source: '/x/r.yaml', env: {} });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return r.value;
  };
  it('gives the same hash for the same shape and a new hash when anything that shapes the cache changes', () => {
    const a = desiredState(config('https://one.example')).caches[0]!;
    const b = desiredState(config('https://one.example')).caches[0]!;
    const c = desiredState(config('https://two.example')).caches[0]!;
    const d = desiredState(config('https://one.example', '    username: u\n    password: p\n')).caches[0]!;
    expect(a.specHash).toBe(b.specHash);
    expect(new Set([a.specHash, c.specHash, d.specHash]).size).toBe(3);
  });
  it('marks a cache offline when its upstream is known to be unreachable', () => {
    const online = desiredState(config('https://one.example'), () => true).caches[0]!;
    const offline = desiredState(config('https://one.example'), () => false).caches[0]!;
    expect(online.offline).toBe(false);
    expect(offline.offline).toBe(true);
    expect(offline.specHash).not.toBe(online.specHash);
  });
});
