import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One line of the JSON access log (nginx/access-log.conf), the fields tests look at. */
export interface AccessLogEntry {
  vhost: string;
  host: string;
  method: string;
  uri: string;
  status: number;
  cache: string;
  upstream_status: string;
  /** The egress nginx's log only: every address it tried. */
  upstream_addr?: string;
}

/** The router's (or the egress nginx's) access log under a running regcache's directory, parsed; none yet: []. */
export async function readAccessLog(regcacheDir: string, nginx: 'nginx' | 'egress-nginx' = 'nginx'): Promise<AccessLogEntry[]> {
  const text = await readFile(join(regcacheDir, 'data', nginx, 'logs', 'access.log'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AccessLogEntry);
}
