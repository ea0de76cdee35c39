import { access } from 'node:fs/promises';
import path from 'node:path';
import { registrySlug } from '../config/parse.js';
import { cacheFilesWithKey, nginxCacheFile } from './nginx-cache-file.js';

/**
 * Where each regcache-controlled layer keeps content of a digest. The keys mirror the templates:
 * templates/nginx/digest-cache.conf.ejs (router: vhost|kind|digest + the Accept variant of a manifest) and
 * templates/nginx/egress-cache.conf.ejs (egress: vhost|digest, plus |Authorization for a credentialed upstream); change both together.
 */
export interface CacheLayers {
  /** The router's entry of a manifest by digest stored for one Accept variant (as logged). */
  routerManifestFile(vhost: string, digest: string, variant: string): string;
  /** Every router entry of a digest, whatever its variant: found by the keys in the zone's files. */
  routerFiles(vhost: string, digest: string): Promise<string[]>;
  /** The egress nginx's entries for a blob (one per Authorization for a credentialed upstream); none without an egress nginx. */
  egressFiles(vhost: string, digest: string): Promise<string[]>;
  /** The router's cache directory of a vhost (its disk counts against cache.maxSize). */
  routerZone(vhost: string): string;
}

export function cacheLayers(opts: { routerCacheDir: string; egressCacheDir: string | null }): CacheLayers {
  const routerZone = (vhost: string) => path.join(opts.routerCacheDir, registrySlug(vhost));
  return {
    routerZone,
    routerManifestFile: (vhost, digest, variant) => nginxCacheFile(routerZone(vhost), `${vhost}|manifests|${digest}${variant}`),
    routerFiles: (vhost, digest) =>
      cacheFilesWithKey(routerZone(vhost), (key) => key === `${vhost}|blobs|${digest}` || key.startsWith(`${vhost}|manifests|${digest}`)),
    async egressFiles(vhost, digest) {
      if (!opts.egressCacheDir) return [];
      const zone = path.join(opts.egressCacheDir, 'blobs');
      const shared = nginxCacheFile(zone, `${vhost}|${digest}`);
      if (await exists(shared)) return [shared];
      // A credentialed upstream's entries are keyed by the Authorization they were fetched with too
      // (templates/nginx/egress-cache.conf.ejs), which the daemon never sees: found by their keys.
      return cacheFilesWithKey(zone, (key) => key.startsWith(`${vhost}|${digest}|`));
    },
  };
}

export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
