import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import { packageRoot } from '../../util/package-root.js';
import type { NginxView } from './nginx-view.js';

export type NginxRenderer = (view: NginxView) => string;

/** Template sources by name: the main template plus the static nginx/ snippets it includes. */
export interface NginxTemplates {
  main: string;
  partials: Record<string, string>;
}

export function readNginxTemplates(root = packageRoot()): NginxTemplates {
  const snippetDir = path.join(root, 'nginx');
  const partials: Record<string, string> = {};
  for (const file of readdirSync(snippetDir)) partials[file] = readFileSync(path.join(snippetDir, file), 'utf8');
  return { main: readFileSync(path.join(root, 'templates', 'nginx.conf.ejs'), 'utf8'), partials };
}

/** Compiles once; rendering is then a pure function of the view. */
export function createNginxRenderer(templates: NginxTemplates): NginxRenderer {
  const template = ejs.compile(templates.main, {
    strict: true,
    localsName: 'view',
    destructuredLocals: ['generation', 'user', 'workerProcesses', 'listen', 'paths', 'routes', 'hosts'],
    escape: (s: unknown) => String(s),
    includer: (name: string) => {
      const template = templates.partials[name];
      if (template === undefined) throw new Error(`nginx template include not found: ${name}`);
      return { template };
    },
  });
  return (view) => template(view);
}
