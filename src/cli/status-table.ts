import { formatAgo, formatBytes, formatCount, formatRatio } from '../util/format.js';
import type { DaemonStatus } from '../status/status-service.js';

/** Left-aligned text columns, two spaces apart. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** `regcache status`: the status page as plain text. Pure. */
export function formatStatusTable(status: DaemonStatus, nowMs: number): string {
  const lines: string[] = [];
  const applied = status.config.appliedAt ? `applied ${formatAgo(status.config.appliedAt, nowMs)}` : 'no config applied';
  lines.push(
    `regcache  ${status.ready ? 'serving' : 'NOT READY'}  generation ${status.generation}  ${status.config.path} (${applied})  runtime ${status.runtime}`,
  );
  if (status.lastError) {
    lines.push('', `CONFIG REJECTED ${formatAgo(status.lastError.at, nowMs)} (the previous config keeps serving): ${status.lastError.message}`);
    for (const p of status.lastError.problems) lines.push(`  ${p.path ? `${p.path}: ` : ''}${p.message}`);
  }
  lines.push('');
  const header = [
    'VHOST',
    'STATUS',
    'REQUESTS',
    '2xx/4xx/5xx',
    'SERVED',
    'FROM UPSTREAM',
    'MANIFEST HITS',
    'BLOB HITS',
    'DISK',
    'LAST PULL',
    'RESTARTS',
    '429s',
  ];
  const rows = status.vhosts.map((v) => {
    const r = v.traffic.requests;
    return [
      v.name,
      v.status,
      formatCount(r.total),
      `${formatCount(r['2xx'])}/${formatCount(r['4xx'])}/${formatCount(r['5xx'])}`,
      formatBytes(v.traffic.bytesServed),
      formatBytes(v.traffic.bytesFromUpstream),
      `${formatRatio(v.cache.manifests.hitRatio)} (${v.cache.manifests.hits}/${v.cache.manifests.hits + v.cache.manifests.misses})`,
      `${formatRatio(v.cache.blobs.hitRatio)} (${v.cache.blobs.hits}/${v.cache.blobs.hits + v.cache.blobs.misses})`,
      formatBytes(v.cache.diskBytes),
      formatAgo(v.traffic.lastPullAt, nowMs),
      String(v.backend.restarts),
      String(v.traffic.upstream429),
    ];
  });
  if (rows.length === 0) lines.push('no vhosts configured');
  else lines.push(...table([header, ...rows]));
  if (status.cluster) {
    lines.push('', `CLUSTER (this node: ${status.cluster.self})`);
    const peerRows = status.cluster.peers.map((p) => [
      p.address,
      p.up === null ? 'not probed' : p.up ? 'up' : 'DOWN',
      `${(p.ringShare * 100).toFixed(1)}%`,
      formatCount(p.forwarded),
      p.error ?? '',
    ]);
    lines.push(...table([['PEER', 'STATE', 'RING SHARE', 'FORWARDED', 'ERROR'], ...peerRows]));
  }
  const errors = status.vhosts.filter((v) => v.lastError);
  if (errors.length > 0) {
    lines.push('', 'LAST ERRORS');
    for (const v of errors) lines.push(`  ${v.name}: ${v.lastError}`);
  }
  return lines.join('\n') + '\n';
}
