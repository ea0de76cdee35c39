import path from 'node:path';
import { registrySlug } from '../config/parse.js';
import { nginxCacheFile } from './nginx-cache-file.js';

/**
 * Where each regcache-controlled layer keeps content of a digest. The keys mirror the templates:
 * templates/nginx/digest-cache.conf.ejs (router: vhost|kind|digest) and
 * templates/nginx/egress-locations.conf.ejs (egress: vhost|digest); change both together.
 */
export interface CacheLayers {
  /** The router's cache entries a digest may have (manifests by digest; blobs of older configs). */
  routerFiles(vhost: string, digest: string): string[];
  /** The egress nginx's entry for a blob, null without an egress nginx. */
  egressFile(vhost: string, digest: string): string | null;
  /** The router's cache directory of a vhost (its disk counts against cache.maxSize). */
  routerZone(vhost: string): string;
}

export function cacheLayers(opts: { routerCacheDir: string; egressCacheDir: string | null }): CacheLayers {
  const routerZone = (vhost: string) => path.join(opts.routerCacheDir, registrySlug(vhost));
  return {
    routerZone,
    routerFiles: (vhost, digest) => ['manifests', 'blobs'].map((kind) => nginxCacheFile(routerZone(vhost), `${vhost}|${kind}|${digest}`)),
    egressFile: (vhost, digest) => (opts.egressCacheDir ? nginxCacheFile(path.join(opts.egressCacheDir, 'blobs'), `${vhost}|${digest}`) : null),
  };
}

export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
