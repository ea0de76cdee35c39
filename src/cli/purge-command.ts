import { SHA256_DIGEST } from '../integrity/cache-layers.js';
import type { PurgeResult } from '../integrity/integrity-service.js';
import { errorMessage } from '../util/errors.js';
import { loadConfigOrReport, type CommandContext } from './command-context.js';

/**
 * `regcache purge --config FILE <registry> <digest>`: asks the running daemon (admin.listen and
 * admin.token of that config) to drop a digest from every cache layer, so the next pull refetches it.
 */
export async function purgeCommand(values: Record<string, unknown>, ctx: CommandContext, positionals: string[] = []): Promise<number> {
  const [name, digest, ...rest] = positionals;
  if (!name || !digest || rest.length > 0) {
    ctx.stderr.write('usage: regcache purge --config FILE <registry> <digest>\n');
    return 2;
  }
  if (!SHA256_DIGEST.test(digest)) {
    ctx.stderr.write(`regcache purge: digest must be sha256: followed by 64 lower-case hex digits (got ${JSON.stringify(digest)})\n`);
    return 2;
  }
  const read = await loadConfigOrReport(values, ctx);
  if (!read) return 1;
  const { file } = read;
  const { admin, registries } = read.loaded.config;
  if (!registries.some((r) => r.name === name)) {
    ctx.stderr.write(`regcache purge: ${file} has no registry named ${JSON.stringify(name)}\n`);
    return 2;
  }
  const host = admin.listen.host === '0.0.0.0' || admin.listen.host === '::' ? '127.0.0.1' : admin.listen.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${admin.listen.port}/api/v1/vhosts/${encodeURIComponent(name)}/cache/${digest}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'DELETE',
      headers: admin.token ? { authorization: `Bearer ${admin.token}` } : {},
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    ctx.stderr.write(`regcache purge: cannot reach the admin API at ${url} (${cause ?? errorMessage(err)}); is regcache running with this config?\n`);
    return 1;
  }
  const body = (await res.json().catch(() => null)) as (PurgeResult & { error?: string }) | null;
  if (!res.ok || !body) {
    ctx.stderr.write(`regcache purge: HTTP ${res.status}${body?.error ? `: ${body.error}` : ''}\n`);
    return 1;
  }
  const r = body.removed;
  ctx.stdout.write(
    `purged ${digest} from ${name}: router cache ${r.router}, egress cache ${r.egress}, registry storage ${r.storage ? 1 : 0}` +
      `${body.storageReachable ? '' : ' (storage not reachable for this runtime: the registry keeps its copy)'}\n`,
  );
  return 0;
}
