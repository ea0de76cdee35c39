// Issue 17: reading a hostile config costs bounded memory. Each worst case at the limits of
// YAML_LIMITS is read by loadConfigFile (what the daemon and `regcache validate` call) in a process of
// its own, which reports its peak RSS; docs/security.md states the bound asserted here.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countItems, YAML_LIMITS } from '../../../src/config/read-yaml.js';

/** The bound docs/security.md states for a process that only reads a config. */
const PEAK_RSS_MIB = 192;
const LOAD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dist', 'config', 'load.js');

/** Units appended until the next would pass the size or item limit (with a little room to spare). */
function fill(head: string, unit: (i: number) => string): string {
  const parts = [head];
  let bytes = Buffer.byteLength(head);
  let items = countItems(head);
  for (let i = 0; ; i++) {
    const u = unit(i);
    const b = Buffer.byteLength(u);
    const n = countItems(u);
    if (bytes + b > YAML_LIMITS.maxBytes - 64 || items + n > YAML_LIMITS.maxItems - 16) return parts.join('');
    parts.push(u);
    bytes += b;
    items += n;
  }
}

/** A line of random letters and YAML punctuation; no brackets, which nest past the depth limit at once. */
const noise = () => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 :-&*!|>\'"#,?%@`';
  return Array.from(randomBytes(60), (b) => alphabet[b % alphabet.length]).join('') + '\n';
};

const CASES: Record<string, () => string | Buffer> = {
  // Billion laughs, padded with a long list an alias could point at.
  'alias bomb': () =>
    fill(
      [
        'domain: registry.example.com',
        'a: &a [x,x,x,x,x,x,x,x,x,x]',
        'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
        'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
        'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
        'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
        'f: &f',
        '',
      ].join('\n'),
      (i) => `  - item-${i}-${'x'.repeat(40)}\n`,
    ),
  // The largest valid config: registries with credentials, aliases and cache overrides.
  'valid at the size limit': () =>
    fill('domain: registry.example.com\nregistries:\n', (i) =>
      [
        `  r${i}.example.com:`,
        `    upstream: https://upstream-${i}.example.com`,
        `    username: user-${i}`,
        `    password: "p4ss-${i}-${'s'.repeat(12)}"`,
        `    aliases: [r${i}-a.example.net, r${i}-b.example.net]`,
        '    cache:',
        '      tagTTL: 5m',
        '',
      ].join('\n'),
    ),
  // The slowest case measured: every registry with two problems (all but 20 are counted only).
  'two problems per registry at the size limit': () =>
    fill('domain: registry.example.com\nregistries:\n', (i) => `  r${i}.example.com:\n    upstream: ftp://x\n    typo: 1\n`),
  // One mapping with as many keys as allowed (the yaml package's own duplicate check is quadratic).
  'one huge mapping': () => fill('domain: registry.example.com\nx-big:\n', (i) => `  key-${i}-${'k'.repeat(8)}: value-${i}\n`),
  // Flow collections nested to the depth limit, repeated.
  'deep nesting': () =>
    fill('domain: registry.example.com\nx-deep:\n', () => `  - ${'['.repeat(YAML_LIMITS.maxFlowDepth)}1${']'.repeat(YAML_LIMITS.maxFlowDepth)}\n`),
  'random bytes': () => randomBytes(YAML_LIMITS.maxBytes),
  'random YAML punctuation': () => fill('', noise),
};

describe('reading a hostile config costs bounded memory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-config-memory-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it.each(Object.keys(CASES))('%s: peak RSS under the stated bound', async (name) => {
    expect(existsSync(LOAD), `${LOAD} (npm run build)`).toBe(true);
    const file = path.join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    await writeFile(file, CASES[name]!());
    const script = [
      `const { loadConfigFile } = await import(${JSON.stringify(LOAD)});`,
      'const started = Date.now();',
      `const r = await loadConfigFile(${JSON.stringify(file)}, {});`,
      'console.log(JSON.stringify({ ok: r.ok, problems: r.ok ? 0 : r.problems.length, ms: Date.now() - started, maxRssKiB: process.resourceUsage().maxRSS }));',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 120_000 });
    const out = JSON.parse(stdout) as { ok: boolean; problems: number; ms: number; maxRssKiB: number };
    console.log(`${name}: ${JSON.stringify(out)}`);
    // Not one of these is a usable config but the valid one; a rejected file lists at most 20 problems and a count.
    expect(out.ok).toBe(name === 'valid at the size limit');
    expect(out.problems).toBeLessThanOrEqual(21);
    expect(out.maxRssKiB / 1024).toBeLessThan(PEAK_RSS_MIB);
  });
});
