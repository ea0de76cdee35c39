// Fails when the modules under src/ (or under test/) import each other in a cycle (types included): data flows one way.
// Under src/ it also fails on an import against the layering (LAYERS below, docs/architecture.md).
// Usage: node scripts/check-cycles.mjs [dir...]  (default: src test; each directory is checked on its own)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The rooms of src/ each room must not import (types included): config → desired → plan → apply →
 * status → http, with state/ and observe/ beside; presentation never feeds back into what it shows.
 */
const INPUTS_ONLY = ['apply', 'observe', 'status', 'http'];
const LAYERS = {
  config: INPUTS_ONLY,
  desired: INPUTS_ONLY,
  plan: INPUTS_ONLY,
  state: INPUTS_ONLY,
  observe: ['apply', 'status', 'http'],
  apply: ['observe', 'status', 'http'],
  status: ['apply', 'http'],
};

const roots = process.argv.length > 2 ? process.argv.slice(2) : ['src', 'test'];
let failed = false;
for (const root of roots.map((r) => path.resolve(r))) failed = checkCycles(root) || failed;
if (failed) process.exit(1);

/** Reports the cycles among the .ts modules under root; true when there is one. */
function checkCycles(root) {
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.ts')) files.push(full);
    }
  };
  walk(root);

  // `import … from`, `export … from`, a side-effect `import './x.js'` and a dynamic `import('./x.js')`.
  const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|^\s*import\s+['"](\.[^'"]+)['"]|\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/gm;
  const edges = new Map();
  for (const file of files) {
    const targets = [];
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), (m[1] ?? m[2] ?? m[3]).replace(/\.js$/, '.ts'));
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
  if (cycles.length === 0) console.log(`no import cycles in ${files.length} modules under ${path.relative(process.cwd(), root) || '.'}`);

  const against = [];
  if (path.basename(root) === 'src') {
    const room = (f) => rel(f).split(path.sep)[0];
    for (const [file, targets] of edges) {
      for (const target of targets) {
        if (LAYERS[room(file)]?.includes(room(target)))
          against.push(`layering: ${rel(file)} imports ${rel(target)} (${room(file)}/ must not import ${room(target)}/)`);
      }
    }
    for (const a of against) console.error(a);
    if (against.length === 0) console.log(`no import against the layering under ${path.relative(process.cwd(), root)}`);
  }
  return cycles.length > 0 || against.length > 0;
}
