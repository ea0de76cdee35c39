// The README is a user's guide: short, and everything it points at exists (scripts, files, links).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../../src/util/package-root.js';

const root = packageRoot();
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

describe('README', () => {
  it('stays a guide of at most 300 lines; the detail lives in docs/', () => {
    expect(readme.trimEnd().split('\n').length).toBeLessThanOrEqual(300);
  });

  it('names only npm scripts that exist', () => {
    const scripts = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const named = [...readme.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(0);
    for (const name of named) expect(scripts, name).toHaveProperty(name);
  });

  it('links only to files that exist', () => {
    const links = [...readme.matchAll(/\]\(((?!https?:|#)[^)#]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(5);
    for (const link of links) expect(existsSync(path.join(root, link)), link).toBe(true);
  });

  it('names only repository files that exist in its commands', () => {
    const files = [...readme.matchAll(/(?:^|[\s`(])((?:compose|docs|bench|test|scripts)\/[\w./-]+\.(?:ya?ml|md|json|ts|svg|mjs))/gm)].map(
      (m) => m[1]!,
    );
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) expect(existsSync(path.join(root, file)), file).toBe(true);
  });
});
