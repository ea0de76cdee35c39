import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import { packageRoot } from '../../util/package-root.js';
import type { EgressNginxView } from '../egress/egress-view.js';
import type { NginxView } from './nginx-view.js';

export type NginxRenderer = (view: NginxView) => string;
export type EgressNginxRenderer = (view: EgressNginxView) => string;

/**
 * Template sources by name: the main template, EJS partials from templates/nginx/ and the static
 * snippets in nginx/. Both kinds are included by file name (`include('proxy-cache.conf.ejs')`).
 */
export interface NginxTemplates {
  main: string;
  /** The egress nginx's whole config (templates/egress-nginx.conf.ejs). */
  egress: string;
  partials: Record<string, string>;
}

export function readNginxTemplates(root = packageRoot()): NginxTemplates {
  const partials: Record<string, string> = {};
  for (const dir of [path.join(root, 'nginx'), path.join(root, 'templates', 'nginx')]) {
    let files: string[] = [];
    try {
      files = readdirSync(dir);
    } catch {
      continue;
    }
    for (const file of files) partials[file] = readFileSync(path.join(dir, file), 'utf8');
  }
  return {
    main: readFileSync(path.join(root, 'templates', 'nginx.conf.ejs'), 'utf8'),
    egress: readFileSync(path.join(root, 'templates', 'egress-nginx.conf.ejs'), 'utf8'),
    partials,
  };
}

/** Compiles once; rendering is then a pure function of the view. */
export function createNginxRenderer(templates: NginxTemplates): NginxRenderer {
  const template = compile(templates, templates.main, [
    'generation',
    'user',
    'workerProcesses',
    'listen',
    'paths',
    'routes',
    'hosts',
    'nsRoutes',
    'cacheZones',
    'tagLocations',
    'cacheLockTimeout',
    'accept',
    'probeClients',
    'cacheReadTimeout',
    'errorHold',
    'upstreamDown',
    'diskFull',
    'egressMarkers',
    'repositoryRules',
    'cluster',
  ]);
  return (view) => template(view);
}

export function createEgressNginxRenderer(templates: NginxTemplates): EgressNginxRenderer {
  const template = compile(templates, templates.egress, [
    'generation',
    'user',
    'workerProcesses',
    'paths',
    'controlListen',
    'resolver',
    'caFile',
    'caMaterial',
    'cacheZone',
    'cacheLockTimeout',
    'stallTimeout',
    'connectTimeout',
    'errorHold',
    'failedDir',
    'egressJs',
    'authKey',
    'redirect',
    'servers',
    'mirrorBackoff',
    'mirrorFailoverTimeout',
    'mirrorTries',
  ]);
  return (view) => template(view);
}

function compile(templates: NginxTemplates, main: string, locals: string[]): ejs.TemplateFunction {
  return ejs.compile(main, {
    strict: true,
    localsName: 'view',
    destructuredLocals: locals,
    escape: (s: unknown) => String(s),
    includer: (name: string) => {
      const template = templates.partials[name];
      if (template === undefined) throw new Error(`nginx template include not found: ${name}`);
      return { template };
    },
  });
}
