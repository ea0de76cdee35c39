import { describe, expect, it } from 'vitest';
import type { CacheStorageInspector } from '../../../src/observe/storage/cache-storage.js';
import { createDiskUsageSampler } from '../../../src/observe/storage/disk-usage-sampler.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

function setup() {
  const clock = createFakeClock(1000);
  const walked: string[] = [];
  let gate: Promise<void> | null = null;
  const inspector: CacheStorageInspector = {
    diskUsage: async (name) => {
      walked.push(name);
      if (gate) await gate;
      return name === 'gone' ? null : { bytes: 10, files: 1, partial: false };
    },
    blobStoredAt: async () => undefined,
  };
  let names = ['docker.io', 'gone'];
  const sampler = createDiskUsageSampler({ inspector, names: () => names, clock, intervalMs: 60_000 });
  return {
    clock,
    walked,
    sampler,
    hold: () => {
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      return () => {
        gate = null;
        release();
      };
    },
    setNames: (n: string[]) => (names = n),
  };
}

describe('disk usage sampler (fake storage, fake clock)', () => {
  it('walks every cache once per interval and keeps the last result', async () => {
    const s = setup();
    s.sampler.start();
    await s.clock.advance(0);
    expect(s.walked).toEqual(['docker.io', 'gone']);
    expect(s.sampler.latest('docker.io')).toEqual({ bytes: 10, files: 1, partial: false, measuredAtMs: 1000 });
    expect(s.sampler.latest('gone')).toBeNull();
    await s.clock.advance(59_999);
    expect(s.walked).toHaveLength(2);
    s.setNames(['ghcr.io']);
    await s.clock.advance(1);
    expect(s.walked.slice(2)).toEqual(['ghcr.io']);
    // A cache no longer configured is forgotten.
    expect(s.sampler.latest('docker.io')).toBeNull();
    s.sampler.stop();
  });

  it('stop() leaves no timer; stop() then start() during a walk keeps one loop', async () => {
    const s = setup();
    const release = s.hold();
    s.sampler.start();
    await s.clock.advance(0);
    s.sampler.stop();
    s.sampler.start();
    release();
    await s.clock.advance(0);
    expect(s.clock.pending()).toBe(1);
    await s.clock.advance(120_000);
    expect(s.clock.pending()).toBe(1);
    s.sampler.stop();
    expect(s.clock.pending()).toBe(0);
    const walks = s.walked.length;
    await s.clock.advance(600_000);
    expect(s.walked).toHaveLength(walks);
  });
});
