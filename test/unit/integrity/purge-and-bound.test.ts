import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { purgeCommand } from '../../../src/cli/purge-command.js';
import { createStorageBound } from '../../../src/integrity/storage-bound.js';
import { createLogger } from '../../../src/log.js';
import { createFakeClock } from '../../helpers/fake-clock.js';
import { exists, writeStoredBlob } from '../../helpers/stored-blobs.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'regcache-unit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

describe('regcache purge', () => {
  const digest = `sha256:${'b'.repeat(64)}`;
  const run = async (positionals: string[]) => {
    const out = capture();
    const err = capture();
    const config = path.join(dir, 'registries.yaml');
    // Port 1: nothing listens there.
    await writeFile(
      config,
      'domain: example.test\nadmin: { listen: "127.0.0.1:1" }\nregistries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n',
    );
    const code = await purgeCommand({ config }, { env: {}, stdout: out.stream, stderr: err.stream }, positionals);
    return { code, stdout: out.text(), stderr: err.text() };
  };

  it('refuses a missing argument, a malformed digest and an unknown registry with exit 2, naming the problem', async () => {
    expect(await run(['docker.io'])).toMatchObject({ code: 2, stderr: expect.stringContaining('usage: regcache purge') });
    expect(await run(['docker.io', 'sha256:XYZ'])).toMatchObject({ code: 2, stderr: expect.stringContaining('digest must be sha256:') });
    expect(await run(['quay.io', digest])).toMatchObject({ code: 2, stderr: expect.stringContaining('no registry named "quay.io"') });
  });

  it('says so when no daemon answers on admin.listen', async () => {
    const r = await run(['docker.io', digest]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach the admin API');
  });
});

describe('storage bound', () => {
  const clock = createFakeClock(Date.UTC(2026, 0, 1));
  const blob = (root: string, name: string, bytes: number, lastUse: Date) =>
    writeStoredBlob(root, `sha256:${name.repeat(64).slice(0, 64)}`, bytes, lastUse);

  it('evicts the least recently used blobs of a registry over its maxSize, down to 90 %', async () => {
    const root = path.join(dir, 'storage');
    const old = await blob(root, 'a', 400 << 10, new Date(2025, 0, 1));
    const mid = await blob(root, 'c', 400 << 10, new Date(2025, 5, 1));
    const recent = await blob(root, 'e', 400 << 10, new Date(2025, 11, 1));
    const evicted: string[] = [];
    const bound = createStorageBound({
      registries: () => [{ name: 'docker.io', maxSizeBytes: 1 << 20 }],
      storageRoot: async () => root,
      routerZone: () => path.join(dir, 'zone'),
      clock,
      logger: createLogger({ level: 'silent' }),
      onEvicted: (_name, blobs) => evicted.push(...blobs.map((b) => b.digest.slice(7, 8))),
    });
    await bound.enforce();
    // 1200 KiB > 1 MiB: the oldest goes (800 KiB ≤ 90 % of 1 MiB).
    expect(evicted).toEqual(['a']);
    expect(await exists(old)).toBe(false);
    expect(await exists(mid)).toBe(true);
    expect(await exists(recent)).toBe(true);
    await bound.enforce();
    expect(evicted).toEqual(['a']);
  });
});
