// Bench row 8c: what one proxy hop costs by itself on this machine. The cold path (8a) can be no
// faster than this: a plain nginx between curl and the upstream, with regcache's buffer settings,
// storing nothing, no TLS, no cache, no registry.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findBinary } from '../src/util/find-binary.js';
import { findFreePort, waitFor } from '../test/helpers/binaries.js';
import type { ComparisonRow } from './report.js';
import { curlDownload, type Target } from './tools.js';

const MIB = 1024 ** 2;
const PAIRS = 5;

function plainProxyConfig(dir: string, port: number, upstream: string): string {
  return `worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    proxy_temp_path ${dir}/temp;
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass ${upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
            proxy_buffers 64 64k;
            proxy_busy_buffers_size 256k;
            proxy_max_temp_file_size 0;
        }
    }
}
`;
}

export async function proxyFloorRow(opts: { upstream: Target; blobPath: string; size: number }): Promise<ComparisonRow> {
  const nginx = findBinary(['nginx'], process.env.REGCACHE_NGINX_BIN);
  if (!nginx) throw new Error('nginx not found (set REGCACHE_NGINX_BIN)');
  const dir = await mkdtemp(path.join(tmpdir(), 'regcache-bench-hop-'));
  await mkdir(path.join(dir, 'temp'));
  const port = await findFreePort();
  await writeFile(path.join(dir, 'nginx.conf'), plainProxyConfig(dir, port, opts.upstream.base));
  const child = spawn(nginx, ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  const hop: Target = { base: `http://127.0.0.1:${port}`, host: null };
  try {
    await waitFor(async () => (await curlDownload(hop, '/v2/').catch(() => null))?.status === 200, { timeoutMs: 10_000, what: 'the plain proxy' });
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
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}
