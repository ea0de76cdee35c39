// `nginx -t` on a rendered config, as regcache runs it (prefix, error log, daemon off).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { requireBinary } from './binaries.js';

/** null when nginx accepts `file` under `prefix` (which holds logs/), else what nginx said. */
export async function nginxCheck(file: string, prefix: string): Promise<string | null> {
  const nginx = requireBinary(['nginx'], 'REGCACHE_NGINX_BIN');
  const args = ['-t', '-q', '-p', `${prefix}/`, '-e', path.join(prefix, 'logs/error.log'), '-c', file, '-g', 'daemon off;'];
  return promisify(execFile)(nginx, args).then(
    () => null,
    (err: { stderr?: string }) => err.stderr || String(err),
  );
}
