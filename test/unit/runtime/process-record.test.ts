import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRecordedProcess, processStartTime, writeProcessRecord } from '../../../src/apply/runtime/process/process-record.js';

describe('process records (what a restarted daemon adopts)', () => {
  let dir: string;
  let child: ReturnType<typeof spawn>;
  const marker = '/srv/regcache-marker/config.yml';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-record-'));
    child = spawn('sleep', ['300'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
  });
  afterAll(async () => {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('finds the recorded process only while pid, start time and command line all match', async () => {
    const file = path.join(dir, 'sleep.json');
    await writeProcessRecord(file, child.pid!, { spec: { name: 'x' } });
    expect(await findRecordedProcess(file, 'sleep 300')).toMatchObject({ pid: child.pid, spec: { name: 'x' } });
    // Not our config in its command line: never adopted, never killed.
    expect(await findRecordedProcess(file, marker)).toBeNull();
    // The same pid with another start time is another process (pid reuse).
    await writeFile(file, JSON.stringify({ pid: child.pid, start: String(Number(processStartTime(child.pid!)) - 1) }));
    expect(await findRecordedProcess(file, 'sleep 300')).toBeNull();
  });

  it('treats a dead process, a missing and a torn record as nothing to adopt', async () => {
    const file = path.join(dir, 'gone.json');
    const short = spawn('true', [], { stdio: 'ignore' });
    await new Promise((r) => short.once('spawn', r));
    const start = processStartTime(short.pid!);
    await new Promise((r) => short.once('exit', r));
    await writeFile(file, JSON.stringify({ pid: short.pid, start }));
    expect(await findRecordedProcess(file, 'true')).toBeNull();
    expect(await findRecordedProcess(path.join(dir, 'absent.json'), 'x')).toBeNull();
    await writeFile(file, '{"pid": 12');
    expect(await findRecordedProcess(file, 'x')).toBeNull();
  });
});
