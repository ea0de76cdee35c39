import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { createDiskSpaceMonitor } from '../../../src/observe/disk/disk-space-monitor.js';
import { removeOldFiles, removeStaleUploads } from '../../../src/observe/disk/stale-uploads.js';
import { createEventLog } from '../../../src/state/event-log.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

const MIB = 1024 * 1024;

describe('disk space monitor', () => {
  const setup = (free: { bytes: number }) => {
    const clock = createFakeClock(1_000_000);
    const events = createEventLog(clock);
    const changes: boolean[] = [];
    let cleanups = 0;
    const monitor = createDiskSpaceMonitor({
      measure: async () => ({ freeBytes: free.bytes, totalBytes: 1000 * MIB }),
      floor: () => ({ percent: 2 }),
      cleanUploads: async () => {
        cleanups++;
        return { removed: 0, bytes: 0 };
      },
      onChange: (low) => changes.push(low),
      events,
      clock,
      logger: createLogger({ level: 'silent' }),
      intervalMs: 1000,
      cleanupEveryMs: 10_000,
    });
    return { clock, events, changes, monitor, cleanups: () => cleanups };
  };

  it('goes low below the floor, says why, and comes back only with some margin (no flapping)', async () => {
    const free = { bytes: 500 * MIB };
    const t = setup(free);
    await t.monitor.check();
    expect(t.monitor.current()).toMatchObject({ low: false, minFreeBytes: 20 * MIB });
    expect(t.monitor.lowMessage()).toBeNull();
    free.bytes = 19 * MIB;
    await t.monitor.check();
    expect(t.changes).toEqual([true]);
    expect(t.monitor.lowMessage()).toMatch(/disk almost full: 19 MiB free under dataDir, below cache\.minFreeSpace \(20 MiB\)/);
    expect(t.events.list()[0]).toMatchObject({ level: 'error', kind: 'probe' });
    free.bytes = 20.5 * MIB; // above the floor, within the 5 % margin
    await t.monitor.check();
    expect(t.changes).toEqual([true]);
    free.bytes = 22 * MIB;
    await t.monitor.check();
    expect(t.changes).toEqual([true, false]);
    expect(t.monitor.lowMessage()).toBeNull();
  });

  it('cleans uploads at the first check, on every drop below the floor and periodically', async () => {
    const free = { bytes: 500 * MIB };
    const t = setup(free);
    t.monitor.start();
    await t.clock.advance(1000);
    expect(t.cleanups()).toBe(1);
    await t.clock.advance(3000);
    expect(t.cleanups()).toBe(1);
    free.bytes = MIB;
    await t.clock.advance(1000);
    expect(t.cleanups()).toBe(2);
    await t.clock.advance(10_000);
    expect(t.cleanups()).toBe(3);
    t.monitor.stop();
  });
});

describe('stale uploads', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('removes uploads nothing wrote to for the idle time, keeps the ones being written', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-uploads-'));
    const repo = path.join(dir, 'docker', 'registry', 'v2', 'repositories', 'library', 'app', '_uploads');
    const now = Date.now();
    const old = path.join(repo, 'old');
    const fresh = path.join(repo, 'fresh');
    await mkdir(path.join(old, 'hashstates'), { recursive: true });
    await mkdir(fresh, { recursive: true });
    await writeFile(path.join(old, 'data'), Buffer.alloc(1000));
    await writeFile(path.join(fresh, 'data'), Buffer.alloc(10));
    const past = new Date(now - 600_000);
    for (const p of [path.join(old, 'hashstates'), path.join(old, 'data'), old]) await utimes(p, past, past);
    const r = await removeStaleUploads([dir], 120_000, now);
    expect(r).toEqual({ removed: 1, bytes: 1000 });
    expect(await readdir(repo)).toEqual(['fresh']);
  });

  it('removes old marker files only', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-markers-'));
    await writeFile(path.join(dir, 'a'), '');
    await writeFile(path.join(dir, 'b'), '');
    const past = new Date(Date.now() - 120_000);
    await utimes(path.join(dir, 'a'), past, past);
    expect(await removeOldFiles(dir, 60_000, Date.now())).toBe(1);
    expect(await readdir(dir)).toEqual(['b']);
    expect(await removeOldFiles(path.join(dir, 'absent'), 1, Date.now())).toBe(0);
  });
});
