import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * How the router reads a request's whole Accept header. Docker sends one Accept line per media type;
 * nginx before 1.23 gives `$http_accept` the first line only, which would key (and answer) a tag
 * from the microcache by part of the negotiation. Then the njs module joins the lines, or, without
 * it, such requests skip the microcache.
 */
export interface AcceptSupport {
  /** The variable the tag microcache keys with. */
  variable: string;
  /** The variable holds every Accept line, so every tag request may use the microcache. */
  complete: boolean;
  /** njs: the module to load and the script that joins the Accept lines. */
  js: { module: string; script: string } | null;
}

export const FIRST_ACCEPT_LINE_ONLY: AcceptSupport = { variable: '$http_accept', complete: false, js: null };

/** Pure: from `nginx -V` output, whether a module file exists, and where the njs script is. */
export function acceptSupport(versionOutput: string, jsModule: string | null, script: string): AcceptSupport {
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(versionOutput);
  const [major, minor] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (major > 1 || (major === 1 && minor >= 23)) return { variable: '$http_accept', complete: true, js: null };
  if (jsModule) return { variable: '$regcache_accept', complete: true, js: { module: jsModule, script } };
  return FIRST_ACCEPT_LINE_ONLY;
}

/** Asks the nginx binary (`nginx -V`) and looks for Debian's libnginx-mod-http-js in its modules path. */
export async function detectAcceptSupport(binary: string, script: string): Promise<AcceptSupport> {
  const { output, jsModule } = await inspectNginx(binary);
  if (output === '') return FIRST_ACCEPT_LINE_ONLY;
  return acceptSupport(output, jsModule, script);
}

/** The njs module of this nginx binary (Debian's libnginx-mod-http-js), or null when it has none. */
export async function detectJsModule(binary: string): Promise<string | null> {
  return (await inspectNginx(binary)).jsModule;
}

async function inspectNginx(binary: string): Promise<{ output: string; jsModule: string | null }> {
  let output = '';
  try {
    const { stdout, stderr } = await promisify(execFile)(binary, ['-V']);
    output = stdout + stderr;
  } catch {
    return { output: '', jsModule: null };
  }
  const modulesPath = /--modules-path=(\S+)/.exec(output)?.[1] ?? '/usr/lib/nginx/modules';
  const module = path.join(modulesPath, 'ngx_http_js_module.so');
  const present = await access(module).then(
    () => true,
    () => false,
  );
  return { output, jsModule: present ? module : null };
}
