// Bench row 8c: what one proxy hop costs by itself on this machine. The cold path (8a) can be no
// faster than this: a plain nginx between curl and the upstream, with regcache's buffer settings,
// storing nothing, no TLS, no cache, no registry.
import { startPlainProxy } from '../test/helpers/static-nginx.js';
import type { ComparisonRow } from './report.js';
import { curlDownload, type Target } from './tools.js';

const MIB = 1024 ** 2;
const PAIRS = 5;

export async function proxyFloorRow(opts: { upstream: Target; blobPath: string; size: number }): Promise<ComparisonRow> {
  const proxy = await startPlainProxy(opts.upstream.base);
  const hop: Target = { base: proxy.url.replace(/\/$/, ''), host: null };
  try {
    // Alternating pairs, best of each: both see the same page cache and the same machine load.
    const best = { hop: 0, direct: 0 };
    for (let i = 0; i < PAIRS; i++) {
      for (const [which, target] of [
        ['direct', opts.upstream],
        ['hop', hop],
      ] as const) {
        const d = await curlDownload(target, opts.blobPath);
        if (d.status !== 200 || d.bytes !== opts.size) throw new Error(`proxy floor (${which}): HTTP ${d.status}, ${d.bytes} bytes`);
        best[which] = Math.max(best[which], d.bytes / MIB / d.seconds);
      }
    }
    return {
      id: '8c',
      label: 'the same kind of blob through one plain nginx proxy (stores nothing) vs straight from the upstream',
      unit: 'MiB/s',
      router: best.hop,
      direct: best.direct,
      ratio: best.hop / best.direct,
      goal: 'report',
      pass: true,
      note: `best of ${PAIRS} each, alternating: the most any proxy hop on this machine gets; 8a's path has three, one of them writing the staging file`,
    };
  } finally {
    await proxy.stop();
  }
}
