import type { DaemonStatus } from '../status/status-service.js';
import { errorMessage } from '../util/errors.js';
import type { CommandContext } from './command-context.js';
import { formatStatusTable } from './status-table.js';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:8080';

/** `regcache status [--admin URL]`: asks a running daemon's admin API and prints a table. */
export async function statusCommand(values: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const base = String(values.admin ?? ctx.env.REGCACHE_ADMIN_URL ?? DEFAULT_ADMIN_URL).replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(`${base}/api/v1/status`);
  } catch {
    ctx.stderr.write(`regcache status: --admin ${base} is not a URL (e.g. ${DEFAULT_ADMIN_URL})\n`);
    return 2;
  }
  let status: DaemonStatus;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) {
      ctx.stderr.write(`regcache status: ${url.href} answered HTTP ${res.status}\n`);
      return 1;
    }
    status = (await res.json()) as DaemonStatus;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    ctx.stderr.write(`regcache status: cannot reach the admin API at ${base} (${cause ?? errorMessage(err)}); is regcache running? (--admin URL)\n`);
    return 1;
  }
  ctx.stdout.write(formatStatusTable(status, Date.now()));
  return 0;
}
