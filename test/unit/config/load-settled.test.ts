import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFileSettled } from '../../../src/config/load.js';

const good = 'domain: example.com\nregistries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n';

describe('loadConfigFileSettled', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const file = async (text: string) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'regcache-load-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'registries.yaml'), text);
    return path.join(dir, 'registries.yaml');
  };

  it('reads a file caught between truncate and write again, and takes the finished one', async () => {
    const f = await file('');
    const result = await loadConfigFileSettled(f, {}, () => writeFile(f, good));
    expect(result.ok).toBe(true);
  });

  it('rejects a file that stays broken, with its problems', async () => {
    const f = await file('domain: example.com\n');
    let settled = 0;
    const result = await loadConfigFileSettled(f, {}, async () => void settled++);
    expect(settled).toBe(1);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.map((p) => p.path)).toEqual(['registries']);
  });

  it('does not wait when the first read is good', async () => {
    const f = await file(good);
    let settled = 0;
    expect((await loadConfigFileSettled(f, {}, async () => void settled++)).ok).toBe(true);
    expect(settled).toBe(0);
  });
});
