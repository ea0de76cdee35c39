import { describe, expect, it } from 'vitest';
import { createScheduler } from '../../../src/scheduler/scheduler.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

function setup(opts: { debounceMs?: number; maxWaitMs?: number; resyncMs?: number; passMs?: number } = {}) {
  const clock = createFakeClock();
  const passes: string[][] = [];
  let active = 0;
  let maxActive = 0;
  const scheduler = createScheduler<number>({
    clock,
    debounceMs: opts.debounceMs ?? 100,
    maxWaitMs: opts.maxWaitMs ?? 1000,
    resyncMs: opts.resyncMs ?? 0,
    run: async (reasons) => {
      active++;
      maxActive = Math.max(maxActive, active);
      passes.push(reasons);
      if (opts.passMs) await new Promise<void>((r) => clock.setTimeout(r, opts.passMs!));
      active--;
      return passes.length;
    },
  });
  scheduler.start();
  return { clock, passes, scheduler, maxActive: () => maxActive };
}

describe('scheduler', () => {
  it('coalesces a burst of file events into one pass after the quiet time', async () => {
    const { clock, passes, scheduler } = setup();
    const results = [scheduler.trigger('a'), scheduler.trigger('b')];
    await clock.advance(50);
    results.push(scheduler.trigger('a'));
    await clock.advance(99);
    expect(passes).toEqual([]);
    await clock.advance(1);
    expect(passes).toEqual([['a', 'b']]);
    expect(await Promise.all(results)).toEqual([1, 1, 1]);
  });

  it('does not let a steady stream of events postpone the pass beyond maxWait', async () => {
    const { clock, passes, scheduler } = setup({ debounceMs: 100, maxWaitMs: 300 });
    for (let i = 0; i < 10; i++) {
      void scheduler.trigger('edit');
      await clock.advance(50);
    }
    expect(passes.length).toBeGreaterThanOrEqual(1);
    expect(passes.length).toBeLessThanOrEqual(2);
  });

  it('runs one pass at a time and gives triggers during a pass their own pass', async () => {
    const { clock, passes, scheduler, maxActive } = setup({ passMs: 500 });
    const first = scheduler.trigger('one', { immediate: true });
    await clock.advance(10);
    const second = scheduler.trigger('two', { immediate: true });
    const third = scheduler.trigger('three');
    await clock.advance(2000);
    expect(await first).toBe(1);
    expect(await second).toBe(2);
    expect(await third).toBe(2);
    expect(passes).toEqual([['one'], ['two', 'three']]);
    expect(maxActive()).toBe(1);
  });

  it('resyncs periodically with no trigger at all', async () => {
    const { clock, passes } = setup({ resyncMs: 1000 });
    await clock.advance(3500);
    expect(passes).toEqual([['resync'], ['resync'], ['resync']]);
  });

  it('rejects waiting triggers when stopped', async () => {
    const { scheduler } = setup();
    const pending = scheduler.trigger('late');
    await scheduler.stop();
    await expect(pending).rejects.toThrow('scheduler stopped');
  });
  it('a periodic resync whose pass throws does not become an unhandled rejection', async () => {
    const clock = createFakeClock();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      let runs = 0;
      const scheduler = createScheduler<number>({
        clock,
        resyncMs: 1000,
        run: async () => {
          runs++;
          throw new ReferenceError('Excessive alias count indicates a resource exhaustion attack');
        },
      });
      scheduler.start();
      await clock.advance(1000);
      await clock.advance(1000);
      await new Promise((r) => setTimeout(r, 20));
      expect(runs).toBe(2);
      expect(unhandled).toEqual([]);
      await scheduler.stop();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('nudge() asks for a pass like trigger() and never rejects: not when the pass throws, not once stopped', async () => {
    const clock = createFakeClock();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const passes: string[][] = [];
      const scheduler = createScheduler<number>({
        clock,
        debounceMs: 100,
        resyncMs: 0,
        run: async (reasons) => {
          passes.push(reasons);
          throw new Error('apply failed');
        },
      });
      scheduler.start();
      scheduler.nudge('file change');
      scheduler.nudge('runtime exited docker.io');
      await clock.advance(100);
      expect(passes).toEqual([['file change', 'runtime exited docker.io']]);
      await scheduler.stop();
      scheduler.nudge('late event');
      await clock.advance(1000);
      await new Promise((r) => setTimeout(r, 20));
      expect(passes).toHaveLength(1);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('stop() during a pass arms no timer afterwards, even with triggers waiting for the next pass', async () => {
    const { clock, passes, scheduler } = setup({ passMs: 500, resyncMs: 1000 });
    const first = scheduler.trigger('one', { immediate: true });
    await clock.advance(0);
    const waiting = scheduler.trigger('two').catch((e: Error) => e.message);
    const stopped = scheduler.stop();
    // Timers the scheduler arms from here on (the pass's own 500 ms timer is already armed).
    const armed: number[] = [];
    const setTimeout = clock.setTimeout.bind(clock);
    clock.setTimeout = (fn, ms) => (armed.push(ms), setTimeout(fn, ms));
    await clock.advance(500);
    await stopped;
    expect(await first).toBe(1);
    expect(await waiting).toBe('scheduler stopped');
    expect(armed).toEqual([]);
    expect(clock.pending()).toBe(0);
    await clock.advance(10_000);
    expect(passes).toEqual([['one']]);
  });
});
