import { readFileSync } from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import { packageRoot } from '../../util/package-root.js';
import type { StatusPageView } from './status-page-view.js';

export type StatusPageRenderer = (view: StatusPageView) => string;

export function readStatusPageTemplate(root = packageRoot()): string {
  return readFileSync(path.join(root, 'templates', 'status-page.ejs'), 'utf8');
}

/** Compiles templates/status-page.ejs once; `<%= %>` HTML-escapes everything the view holds. */
export function createStatusPageRenderer(template: string): StatusPageRenderer {
  const compiled = ejs.compile(template, { strict: true, localsName: 'page' });
  return (view) => compiled(view);
}
