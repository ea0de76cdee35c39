// Small real nginx servers on loopback for the egress tests: a stand-in for a registry's blob CDN
// (S3, CloudFront, Cloudflare) serving a directory, and an https front for a plain-http registry.
// Each logs its requests and whether they carried an Authorization header.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findFreePort, requireBinary, waitFor } from './binaries.js';
import { releaseTempDir, spawnTracked, trackTempDir } from './child-cleanup.js';

export interface CdnRequest {
  method: string;
  uri: string;
  status: number;
  authorization: boolean;
}

export interface StaticNginx {
  /** http://127.0.0.1:PORT/ */
  url: string;
  requests(): Promise<CdnRequest[]>;
  stop(): Promise<void>;
}

/** Serves `root` over http, on `port` when given. */
export function startStaticNginx(root: string, port?: number): Promise<StaticNginx> {
  return startHelperNginx((p) => `listen 127.0.0.1:${p};\n        root ${root};`, 'http', port);
}

/** https on loopback with this certificate, proxying to a plain-http registry (a TLS upstream). */
export function startTlsFront(tls: { cert: string; key: string }, proxyTo: string): Promise<StaticNginx> {
  return startHelperNginx(
    (port) => `listen 127.0.0.1:${port} ssl;
        ssl_certificate ${tls.cert};
        ssl_certificate_key ${tls.key};
        location / {
            proxy_pass ${proxyTo};
            proxy_set_header Host $http_host;
            proxy_buffering off;
        }`,
    'https',
  );
}

/** A plain proxy to `proxyTo` with the router's buffer settings, storing nothing (bench row 8c: what one hop costs). */
export function startPlainProxy(proxyTo: string): Promise<StaticNginx> {
  return startHelperNginx(
    (port) => `listen 127.0.0.1:${port};
        location / {
            proxy_pass ${proxyTo};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
            proxy_buffers 64 64k;
            proxy_busy_buffers_size 256k;
            proxy_max_temp_file_size 0;
        }`,
    'http',
  );
}

async function startHelperNginx(server: (port: number) => string, scheme: 'http' | 'https', fixedPort?: number): Promise<StaticNginx> {
  const nginx = requireBinary(['nginx'], 'REGCACHE_NGINX_BIN');
  const dir = await mkdtemp(path.join(tmpdir(), 'regcache-cdn-'));
  trackTempDir(dir);
  const port = fixedPort ?? (await findFreePort());
  const log = path.join(dir, 'access.log');
  await writeFile(
    path.join(dir, 'nginx.conf'),
    `${process.geteuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
    client_body_temp_path ${dir}/body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    log_format cdn escape=json '{"method":"$request_method","uri":"$request_uri","status":$status,"authorization":"$http_authorization"}';
    server {
        access_log ${log} cdn;
        ${server(port)}
    }
}
`,
  );
  const child = spawnTracked(nginx, ['-p', `${dir}/`, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: 'ignore',
  });
  const url = `${scheme}://127.0.0.1:${port}/`;
  await waitFor(
    async () =>
      (await fetch(`http://127.0.0.1:${port}/`).then(
        (r) => r.status,
        () => 0,
      )) !== 0,
    { what: `nginx on ${url}` },
  );
  await writeFile(log, '');
  return {
    url,
    async requests() {
      const text = await readFile(log, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const r = JSON.parse(line) as { method: string; uri: string; status: number; authorization: string };
          return { method: r.method, uri: r.uri, status: r.status, authorization: r.authorization !== '' };
        });
    },
    async stop() {
      child.kill('SIGQUIT');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
      await rm(dir, { recursive: true, force: true });
      releaseTempDir(dir);
    },
  };
}
