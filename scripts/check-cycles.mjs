// Fails when the modules under src/ import each other in a cycle (types included): data flows one way.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? 'src');
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full);
    else if (name.endsWith('.ts')) files.push(full);
  }
};
walk(root);

const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/gm;
const edges = new Map();
for (const file of files) {
  const targets = [];
  for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const target = path.resolve(path.dirname(file), m[1].replace(/\.js$/, '.ts'));
    if (files.includes(target) && !targets.includes(target)) targets.push(target);
  }
  edges.set(file, targets);
}

const cycles = [];
const state = new Map(); // 1: on the stack, 2: done
const stack = [];
const visit = (file) => {
  state.set(file, 1);
  stack.push(file);
  for (const next of edges.get(file) ?? []) {
    if (state.get(next) === 1) cycles.push([...stack.slice(stack.indexOf(next)), next]);
    else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, 2);
};
for (const file of files) if (!state.has(file)) visit(file);

const rel = (f) => path.relative(root, f);
for (const c of cycles) console.error(`import cycle: ${c.map(rel).join(' → ')}`);
if (cycles.length > 0) process.exit(1);
console.log(`no import cycles in ${files.length} modules under ${path.relative(process.cwd(), root) || '.'}`);
