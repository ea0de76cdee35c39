import { describe, expect, it } from 'vitest';
import { createPeerResolver } from '../../../src/cluster/peer-resolver.js';
import { createPeerHealthMonitor } from '../../../src/cluster/peer-health.js';
import { createLogger } from '../../../src/log.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

const logger = createLogger({ level: 'silent' });

describe('peer resolver (dns: peers)', () => {
  it('answers the first ask at once, then re-resolves every interval and reports changes only', async () => {
    const clock = createFakeClock();
    let answer: string[] | Error = ['10.0.0.2', '10.0.0.1'];
    const asked: string[] = [];
    const changes: Array<[string[] | null, string[]]> = [];
    const resolver = createPeerResolver({
      lookup: async (name) => {
        asked.push(name);
        if (answer instanceof Error) throw answer;
        return answer;
      },
      clock,
      logger,
      intervalMs: 5000,
      onChange: (_name, before, after) => changes.push([before, after]),
    });
    expect(await resolver.addresses('tasks.regcache')).toEqual(['10.0.0.1', '10.0.0.2']);
    resolver.start();
    await clock.advance(5000);
    expect(changes).toEqual([]);
    answer = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
    await clock.advance(5000);
    expect(changes).toEqual([[['10.0.0.1', '10.0.0.2'], ['10.0.0.1', '10.0.0.2', '10.0.0.3']]]);
    // A failed or empty lookup keeps the last answer: a DNS hiccup does not empty the ring.
    answer = new Error('ENOTFOUND');
    await clock.advance(5000);
    answer = [];
    await clock.advance(5000);
    expect(changes).toHaveLength(1);
    expect(await resolver.addresses('tasks.regcache')).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(await resolver.addresses('tasks.regcache', { fresh: true })).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    await resolver.stop();
    const count = asked.length;
    await clock.advance(20_000);
    expect(asked.length).toBe(count);
  });

  it('resolves nothing until a pass asks for a name', async () => {
    const clock = createFakeClock();
    let asked = 0;
    const resolver = createPeerResolver({ lookup: async () => (asked++, ['10.0.0.1']), clock, logger, onChange: () => undefined });
    resolver.start();
    await clock.advance(30_000);
    expect(asked).toBe(0);
    expect(await resolver.addresses('nothing.there')).toEqual(['10.0.0.1']);
    await resolver.stop();
  });
});

describe('peer health monitor', () => {
  it('probes the live members with the secret, reports changes and forgets peers that left', async () => {
    const clock = createFakeClock();
    const down = new Set<string>();
    const probes: Array<[string, string]> = [];
    let members = ['10.0.0.1:5001', '10.0.0.2:5001'];
    const changes: Array<[string, boolean]> = [];
    const monitor = createPeerHealthMonitor({
      probe: async (peer, secret) => {
        probes.push([peer, secret]);
        return down.has(peer) ? 'connect ECONNREFUSED' : null;
      },
      target: () => ({ members, secret: 's'.repeat(16) }),
      clock,
      logger,
      intervalMs: 5000,
      onChange: (peer, up) => changes.push([peer, up]),
    });
    expect(monitor.health('10.0.0.1:5001')).toBeNull();
    monitor.start();
    await clock.advance(0);
    expect(monitor.health('10.0.0.2:5001')).toMatchObject({ up: true, error: null });
    expect(probes).toContainEqual(['10.0.0.1:5001', 's'.repeat(16)]);
    down.add('10.0.0.2:5001');
    await clock.advance(5000);
    expect(monitor.health('10.0.0.2:5001')).toMatchObject({ up: false, error: 'connect ECONNREFUSED' });
    expect(changes).toEqual([['10.0.0.2:5001', false]]);
    members = ['10.0.0.1:5001'];
    await clock.advance(5000);
    expect(monitor.health('10.0.0.2:5001')).toBeNull();
    await monitor.stop();
  });
});
