import { describe, expect, it } from 'vitest';
import { createFileTailer, type FileIdentity, type TailFs, type TailHandle } from '../../../src/observe/access-log/file-tailer.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

interface Inode {
  ino: number;
  data: Buffer;
}

/** An in-memory file system with inodes, so a rename keeps open handles on the old file as on Linux. */
function createMemoryFs() {
  const names = new Map<string, Inode>();
  let nextIno = 1;
  let openHandles = 0;
  const id = (i: Inode): FileIdentity => ({ dev: 1, ino: i.ino, size: i.data.length });
  const fs: TailFs = {
    async stat(p) {
      const i = names.get(p);
      return i ? id(i) : null;
    },
    async open(p) {
      const i = names.get(p);
      if (!i) return null;
      openHandles++;
      const handle: TailHandle = {
        stat: async () => id(i),
        async read(buffer, position) {
          return i.data.copy(buffer, 0, position, Math.min(i.data.length, position + buffer.length));
        },
        async close() {
          openHandles--;
        },
      };
      return handle;
    },
  };
  return {
    fs,
    create(p: string, text = '') {
      names.set(p, { ino: nextIno++, data: Buffer.from(text) });
    },
    append(p: string, text: string) {
      const i = names.get(p)!;
      i.data = Buffer.concat([i.data, Buffer.from(text)]);
    },
    /** Appends to the file a handle still has open under its old name. */
    appendInode(i: Inode, text: string) {
      i.data = Buffer.concat([i.data, Buffer.from(text)]);
    },
    inode: (p: string) => names.get(p)!,
    rename(from: string, to: string) {
      names.set(to, names.get(from)!);
      names.delete(from);
    },
    truncate(p: string) {
      names.get(p)!.data = Buffer.alloc(0);
    },
    openHandles: () => openHandles,
  };
}

const LOG = '/logs/access.log';

function setup(opts: { startAtEnd?: boolean; maxLineBytes?: number; chunkBytes?: number } = {}) {
  const mem = createMemoryFs();
  const clock = createFakeClock();
  const lines: string[] = [];
  const tailer = createFileTailer({
    path: LOG,
    fs: mem.fs,
    clock,
    onLines: (l) => void lines.push(...l),
    rotatedGraceMs: 10_000,
    ...opts,
  });
  return { mem, clock, lines, tailer };
}

describe('file tailer (memory fs, fake clock)', () => {
  it('follows a file present at the start from its end, then every appended line', async () => {
    const t = setup();
    t.mem.create(LOG, 'old 1\nold 2\n');
    await t.tailer.poll();
    expect(t.lines).toEqual([]);
    t.mem.append(LOG, 'new 1\nnew 2\n');
    await t.tailer.poll();
    expect(t.lines).toEqual(['new 1', 'new 2']);
    expect(t.tailer.stats()).toMatchObject({ following: true, offset: 24, rotations: 0, truncations: 0 });
  });

  it('can replay a present file from its start', async () => {
    const t = setup({ startAtEnd: false });
    t.mem.create(LOG, 'old 1\n');
    await t.tailer.poll();
    expect(t.lines).toEqual(['old 1']);
  });

  it('holds a partial line until its newline arrives, also across read chunks', async () => {
    const t = setup({ chunkBytes: 4 });
    t.mem.create(LOG);
    await t.tailer.poll();
    t.mem.append(LOG, 'GET /v2/ 2');
    await t.tailer.poll();
    expect(t.lines).toEqual([]);
    t.mem.append(LOG, '00\nGET /v2/x 404\npart');
    await t.tailer.poll();
    expect(t.lines).toEqual(['GET /v2/ 200', 'GET /v2/x 404']);
    t.mem.append(LOG, 'ial\n\n');
    await t.tailer.poll();
    // Empty lines are skipped.
    expect(t.lines).toEqual(['GET /v2/ 200', 'GET /v2/x 404', 'partial']);
  });

  it('drops a line longer than maxLineBytes, counts it, and reads the next one', async () => {
    const t = setup({ maxLineBytes: 8, chunkBytes: 4 });
    t.mem.create(LOG);
    await t.tailer.poll();
    t.mem.append(LOG, 'short\n0123456789abcdef');
    await t.tailer.poll();
    t.mem.append(LOG, 'still the long one\nok\n');
    await t.tailer.poll();
    expect(t.lines).toEqual(['short', 'ok']);
    expect(t.tailer.stats().droppedLines).toBe(1);
  });

  it('on rename + recreate drains the old file, reads it through the grace period, then follows the new one from its start', async () => {
    const t = setup();
    t.mem.create(LOG);
    await t.tailer.poll();
    t.mem.append(LOG, 'a\n');
    const old = t.mem.inode(LOG);
    t.mem.rename(LOG, `${LOG}.1`);
    // nginx keeps writing to the renamed file until it reopens.
    t.mem.appendInode(old, 'b\n');
    await t.tailer.poll();
    expect(t.lines).toEqual(['a', 'b']);
    t.mem.create(LOG, 'c\n');
    t.mem.appendInode(old, 'd\n');
    await t.tailer.poll();
    // The old file's lines first, so order holds.
    expect(t.lines).toEqual(['a', 'b', 'd', 'c']);
    expect(t.tailer.stats()).toMatchObject({ rotations: 1, offset: 2 });

    t.mem.appendInode(old, 'e\n');
    await t.clock.advance(9_999);
    await t.tailer.poll();
    expect(t.lines.at(-1)).toBe('e');
    expect(t.mem.openHandles()).toBe(2);
    await t.clock.advance(1);
    t.mem.appendInode(old, 'f\n');
    await t.tailer.poll();
    // Retired after the grace period: drained one last time, then closed.
    expect(t.lines).toEqual(['a', 'b', 'd', 'c', 'e', 'f']);
    expect(t.mem.openHandles()).toBe(1);
    t.mem.appendInode(old, 'g\n');
    await t.tailer.poll();
    expect(t.lines.at(-1)).toBe('f');
  });

  it('restarts at 0 when the file is truncated in place', async () => {
    const t = setup();
    t.mem.create(LOG);
    await t.tailer.poll();
    t.mem.append(LOG, 'one\ntwo\n');
    await t.tailer.poll();
    t.mem.truncate(LOG);
    t.mem.append(LOG, 'x\n');
    await t.tailer.poll();
    expect(t.lines).toEqual(['one', 'two', 'x']);
    expect(t.tailer.stats()).toMatchObject({ truncations: 1, rotations: 0, offset: 2 });
  });

  it('waits for a missing file and then reads it from its start', async () => {
    const t = setup();
    await t.tailer.poll();
    expect(t.tailer.stats().following).toBe(false);
    t.mem.create(LOG, 'first\n');
    await t.tailer.poll();
    expect(t.lines).toEqual(['first']);
  });

  it('close() closes every handle and later polls read nothing', async () => {
    const t = setup();
    t.mem.create(LOG);
    await t.tailer.poll();
    t.mem.rename(LOG, `${LOG}.1`);
    t.mem.create(LOG);
    await t.tailer.poll();
    expect(t.mem.openHandles()).toBe(2);
    await t.tailer.close();
    expect(t.mem.openHandles()).toBe(0);
    t.mem.append(LOG, 'late\n');
    await t.tailer.poll();
    expect(t.lines).toEqual([]);
  });
});
