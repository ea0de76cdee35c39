import { access, constants } from 'node:fs/promises';
import type { CacheStorageInspector } from './cache-storage.js';
import { opaqueStorageInspector } from './cache-storage.js';
import { createFilesystemStorageInspector } from './filesystem-storage.js';

export interface VolumeStorageOptions {
  /** The engine's mountpoint of a registry's volume (null when unknown). */
  mountpoint: (registryName: string) => Promise<string | null>;
}

/**
 * The Docker runtime's storage, read through each volume's mountpoint on the Docker host. That
 * only works when the daemon runs on that host with access to it (root, no container between);
 * otherwise every answer stays "unknown", as with the opaque inspector.
 */
export function createVolumeStorageInspector(opts: VolumeStorageOptions): CacheStorageInspector {
  const storageDir = async (name: string): Promise<string | null> => {
    try {
      const dir = await opts.mountpoint(name);
      if (!dir) return null;
      await access(dir, constants.R_OK | constants.X_OK);
      return dir;
    } catch {
      return null;
    }
  };
  const files = createFilesystemStorageInspector({ storageDir });
  return {
    diskUsage: files.diskUsage,
    async blobStoredAt(name, digest) {
      // Not visible is "cannot inspect" (undefined), not "not stored" (null).
      return (await storageDir(name)) ? files.blobStoredAt(name, digest) : opaqueStorageInspector.blobStoredAt(name, digest);
    },
  };
}

/**
 * A volume's mountpoint regcache may delete blobs from (purge, cache.maxSize): only when the daemon runs
 * on the Docker host with write access to it; else null (the volume is left alone).
 */
export function createVolumeStorageRoot(mountpoint: (registryName: string) => Promise<string | null>) {
  return async (name: string): Promise<string | null> => {
    try {
      const dir = await mountpoint(name);
      if (!dir) return null;
      await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
      return dir;
    } catch {
      return null;
    }
  };
}
