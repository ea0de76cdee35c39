import { describe, expect, it } from 'vitest';
import { createRepeating } from '../../../src/util/repeat.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

describe('createRepeating', () => {
  it('runs at once, then intervalMs after each run ends, survives a failing run, and stops arming', async () => {
    const clock = createFakeClock();
    let runs = 0;
    const repeating = createRepeating({
      clock,
      intervalMs: 1000,
      run: async () => {
        runs++;
        if (runs === 2) throw new Error('one bad run');
      },
    });
    repeating.start();
    await clock.advance(0);
    expect(runs).toBe(1);
    await clock.advance(999);
    expect(runs).toBe(1);
    await clock.advance(1);
    expect(runs).toBe(2);
    await clock.advance(1000);
    expect(runs).toBe(3);
    await repeating.stop();
    expect(clock.pending()).toBe(0);
    await clock.advance(5000);
    expect(runs).toBe(3);
  });
});
