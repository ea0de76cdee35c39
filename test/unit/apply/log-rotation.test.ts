import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rotateLogs } from '../../../src/apply/log-rotation.js';

describe('rotateLogs', () => {
  let dir: string;
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('copies a large log to .1 and truncates it; a writer holding it open with O_APPEND continues at the start', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rotate-'));
    const big = path.join(dir, 'cache.log');
    const small = path.join(dir, 'other.log');
    const writer = await open(big, 'a');
    await writer.write('x'.repeat(2000));
    await writeFile(small, 'small');
    expect(await rotateLogs([dir, path.join(dir, 'missing')], 1000)).toEqual([big]);
    expect((await readFile(`${big}.1`, 'utf8')).length).toBe(2000);
    await writer.write('after');
    await writer.close();
    expect(await readFile(big, 'utf8')).toBe('after');
    expect(await readFile(small, 'utf8')).toBe('small');
  });
});

describe('rotateLogs by rename', () => {
  let dir: string;
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('moves a large log to .1 so its writer can reopen a fresh file', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rotate-'));
    const access = path.join(dir, 'access.log');
    await writeFile(access, 'y'.repeat(1500));
    expect(await rotateLogs([dir], 1000, 'rename')).toEqual([access]);
    expect((await readFile(`${access}.1`, 'utf8')).length).toBe(1500);
    await expect(readFile(access)).rejects.toThrow();
  });
});
