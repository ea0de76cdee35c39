// nginx/egress.js (njs): failedBind must find the marker a failed fetch wrote under the slot names that
// nginx/egress-maps.conf gives $msec, for every second of the clock, and only while it counts.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { packageRoot } from '../../../../src/util/package-root.js';
// @ts-expect-error plain njs script without types
import egressJs from '../../../../nginx/egress.js';

const { failedBind, authKey } = egressJs as { failedBind: (r: unknown) => string; authKey: (r: unknown) => string };

/** The slot names nginx's maps give a moment, read from the config itself. */
function markNames(msec: string): string[] {
  const maps = readFileSync(path.join(packageRoot(), 'nginx', 'egress-maps.conf'), 'utf8');
  return ['mark_a', 'mark_b'].map((name) => {
    const body = new RegExp(`map \\$msec \\$regcache_egress_${name} \\{\\n((?:.*\\n)*?)\\s*\\}\\n`).exec(maps)![1]!;
    for (const line of body.trim().split('\n')) {
      const [, pattern, value] = /"~(.*)" "(.*)";/.exec(line.trim())!;
      const m = new RegExp(pattern!.replace(/\?<\w+>/, '')).exec(msec);
      if (m) return value!.replace(/\$\{\w+\}/, m[1]!);
    }
    throw new Error(`no ${name} slot for ${msec}`);
  });
}

describe('egress lock check (njs)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'regcache-egress-lock-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => vi.useRealTimers());
  const digest = `sha256:${'ab'.repeat(32)}`;
  const request = (d = digest) => ({
    variables: { regcache_egress_digest: d, regcache_egress_failed_dir: dir, regcache_egress_unbindable: '127.0.0.1:41000' },
  });

  it('a fetch that failed within the last second is seen by every waiter, whatever the second', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    for (let second = 1_764_680_000; second < 1_764_680_020; second++) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      for (const slot of markNames(`${second}.250`)) writeFileSync(path.join(dir, `${digest}-${slot}`), '');
      for (const later of [0.3, 0.9]) {
        vi.setSystemTime((second + later) * 1000);
        expect(failedBind(request()), `failed at ${second}, checked ${later} s later`).toBe('127.0.0.1:41000');
      }
      // Markers count for at most 2 s; another digest is never affected.
      vi.setSystemTime((second + 2.5) * 1000);
      expect(failedBind(request())).toBe('');
      vi.setSystemTime((second + 0.3) * 1000);
      expect(failedBind(request(`sha256:${'cd'.repeat(32)}`))).toBe('');
    }
  });

  it('binds nothing for requests that are not blobs', () => {
    expect(failedBind(request(''))).toBe('');
  });

  it("keys a credentialed upstream's entries by the Authorization's hash, never the token itself", () => {
    const key = authKey({ headersIn: { Authorization: 'Bearer secret-token' } });
    expect(key).toBe(`sha256:${createHash('sha256').update('Bearer secret-token').digest('hex')}`);
    expect(key).not.toContain('secret-token');
    expect(authKey({ headersIn: {} })).not.toBe(key);
  });
});
