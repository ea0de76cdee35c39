import { describe, expect, it } from 'vitest';
import { createHealthMonitor, probeMirrors } from '../../../src/state/health-monitor.js';
import type { ProbeResult } from '../../../src/state/probes.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

const down = (error: string): ProbeResult => ({ ok: false, status: null, error });
const ok: ProbeResult = { ok: true, status: 401, error: null };

describe('upstream mirror lists: reachability', () => {
  it('is reachable while any mirror answers, asking them in order', async () => {
    const asked: string[] = [];
    const answers: Record<string, ProbeResult> = { 'https://a': down('ECONNREFUSED'), 'https://b': ok, 'https://c': ok };
    const probe = async (u: string) => (asked.push(u), answers[u]!);
    expect(await probeMirrors(['https://a', 'https://b', 'https://c'], null, probe)).toEqual(ok);
    expect(asked).toEqual(['https://a', 'https://b']);
  });

  it('is down only when every mirror is, naming each one', async () => {
    const answers: Record<string, ProbeResult> = { 'https://a': down('ECONNREFUSED'), 'https://b': { ok: false, status: 503, error: 'HTTP 503' } };
    const result = await probeMirrors(['https://a', 'https://b'], null, async (u) => answers[u]!);
    expect(result).toEqual({ ok: false, status: 503, error: 'all 2 mirrors unreachable (https://a: ECONNREFUSED; https://b: HTTP 503)' });
  });

  it('the health monitor takes a list as one upstream', async () => {
    const reachable = new Set(['https://b']);
    const monitor = createHealthMonitor({ clock: createFakeClock(0), probeUpstream: async (u) => (reachable.has(u) ? ok : down('ECONNREFUSED')) });
    expect((await monitor.ensureUpstreamChecked('docker.io', ['https://a', 'https://b'], null)).ok).toBe(true);
    reachable.clear();
    expect((await monitor.ensureUpstreamChecked('ghcr.io', ['https://a', 'https://b'], null)).ok).toBe(false);
  });
});
