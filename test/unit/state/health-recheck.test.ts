import { describe, expect, it } from 'vitest';
import { createHealthMonitor } from '../../../src/state/health-monitor.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

describe('health monitor: recheck on failed traffic', () => {
  it('probes an upstream again at once when asked, at most every 2 s, and reports the flip', async () => {
    const clock = createFakeClock(10_000);
    let reachable = true;
    let probes = 0;
    const monitor = createHealthMonitor({
      clock,
      probeUpstream: async () => {
        probes++;
        return reachable ? { ok: true, status: 200, error: null } : { ok: false, status: null, error: 'connection refused' };
      },
    });
    const flips: Array<[string, boolean]> = [];
    monitor.onUpstreamChange((name, ok) => flips.push([name, ok]));
    await monitor.ensureUpstreamChecked('docker.io', 'https://registry-1.docker.io', null);
    expect(probes).toBe(1);
    reachable = false;
    monitor.recheckUpstream('docker.io'); // within 2 s of the last probe: not yet
    await clock.advance(0);
    expect(probes).toBe(1);
    await clock.advance(2500);
    monitor.recheckUpstream('docker.io');
    monitor.recheckUpstream('docker.io'); // one probe at a time
    await clock.advance(0);
    expect(probes).toBe(2);
    expect(flips).toEqual([['docker.io', false]]);
    expect(monitor.health('docker.io').upstream?.ok).toBe(false);
    monitor.recheckUpstream('ghcr.io'); // never probed: nothing to recheck
    expect(probes).toBe(2);
  });
});
