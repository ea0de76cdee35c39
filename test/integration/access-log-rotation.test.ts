// The tailer against the real file system: rotation by rename + recreate, copytruncate, a file that
// appears late, torn and over-long lines. Time is a fake clock; only the files are real.
import { appendFile, mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileTailer, type FileTailer } from '../../src/observe/access-log/file-tailer.js';
import { createFakeClock, type FakeClock } from '../helpers/fake-clock.js';

describe('access log tailer on real files', () => {
  let dir: string;
  let file: string;
  let clock: FakeClock;
  let got: string[];
  let tailer: FileTailer;
  const start = (opts: { startAtEnd?: boolean; maxLineBytes?: number; chunkBytes?: number } = {}) => {
    tailer = createFileTailer({ path: file, clock, onLines: (lines) => void got.push(...lines), rotatedGraceMs: 5000, ...opts });
    return tailer;
  };
  const lines = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const write = (path: string, ls: string[]) => appendFile(path, ls.map((l) => l + '\n').join(''));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regcache-tailer-'));
    file = join(dir, 'access.log');
    clock = createFakeClock(1_000_000);
    got = [];
  });
  afterEach(async () => {
    await tailer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('skips history present at start, then reads what is appended, joining torn lines', async () => {
    await write(file, lines('old', 3));
    start();
    await tailer.poll();
    expect(got).toEqual([]);
    await appendFile(file, 'new-0\nnew-');
    await tailer.poll();
    expect(got).toEqual(['new-0']);
    await appendFile(file, '1\n');
    await tailer.poll();
    expect(got).toEqual(['new-0', 'new-1']);
  });

  it('reads a file that appears after start from its beginning', async () => {
    start();
    await tailer.poll();
    expect(tailer.stats().following).toBe(false);
    await write(file, lines('a', 2));
    await tailer.poll();
    expect(got).toEqual(['a-0', 'a-1']);
  });

  it('follows rename + recreate without losing or repeating a line, including late writes to the old file', async () => {
    start({ chunkBytes: 16 }); // small reads: lines cross chunk boundaries
    await writeFile(file, '');
    await tailer.poll();
    await write(file, lines('before', 5));
    await tailer.poll();
    // logrotate: rename, the writer keeps appending to the renamed file until it reopens.
    await rename(file, `${file}.1`);
    await write(`${file}.1`, lines('late', 2));
    await tailer.poll(); // nothing at the path yet: the open file is still read
    await writeFile(file, '');
    await write(`${file}.1`, lines('later', 1)); // after the new file exists, before the writer reopened
    await write(file, lines('after', 3));
    await tailer.poll();
    await write(`${file}.1`, lines('straggler', 1));
    await clock.advance(1000);
    await tailer.poll(); // still inside the grace period: read
    await clock.advance(10_000);
    await write(`${file}.1`, lines('too-late', 1));
    await tailer.poll(); // drained once more when retired, then closed
    await write(`${file}.1`, lines('never', 1));
    await write(file, lines('after2', 1));
    await tailer.poll();
    expect(got).toEqual([
      ...lines('before', 5),
      ...lines('late', 2),
      ...lines('later', 1),
      ...lines('after', 3),
      'straggler-0',
      'too-late-0',
      'after2-0',
    ]);
    expect(tailer.stats().rotations).toBe(1);
  });

  it('starts over after copytruncate', async () => {
    start();
    await writeFile(file, '');
    await tailer.poll();
    await write(file, lines('one', 3));
    await tailer.poll();
    await truncate(file, 0);
    await write(file, lines('two', 1));
    await tailer.poll();
    expect(got).toEqual([...lines('one', 3), 'two-0']);
    expect(tailer.stats().truncations).toBe(1);
  });

  it('drops an over-long line (bounded memory) and keeps the lines around it', async () => {
    start({ maxLineBytes: 100, chunkBytes: 32 });
    await writeFile(file, '');
    await tailer.poll();
    await appendFile(file, `ok-1\n${'x'.repeat(500)}`);
    await tailer.poll();
    await appendFile(file, `${'y'.repeat(300)}\nok-2\n`);
    await tailer.poll();
    expect(got).toEqual(['ok-1', 'ok-2']);
    expect(tailer.stats().droppedLines).toBe(1);
  });
});
