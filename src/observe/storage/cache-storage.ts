/** Disk used by one cache's storage. */
export interface DiskUsage {
  bytes: number;
  files: number;
  /** True when the walk stopped at its entry limit: `bytes` is then a lower bound. */
  partial: boolean;
}

/**
 * A view into the caches' storage, implemented per runtime: the process runtime's storage is a
 * directory under dataDir (filesystem-storage.ts); the Docker runtime keeps it in a named volume
 * and plugs in its own implementation (e.g. `docker system df -v`, or a stat inside the container).
 */
export interface CacheStorageInspector {
  /** Disk used by the cache of `name`, or null when unknown (no such cache, not visible). */
  diskUsage(name: string): Promise<DiskUsage | null>;
  /**
   * When the blob's content was written to the cache's storage (ms since the epoch), null when it is
   * not stored, undefined when this storage cannot be inspected. Decides blob hit/miss (blob-outcome.ts).
   */
  blobStoredAt(name: string, digest: string): Promise<number | null | undefined>;
}

/** For runtimes whose storage regcache cannot see: every answer is "unknown". */
export const opaqueStorageInspector: CacheStorageInspector = {
  diskUsage: async () => null,
  blobStoredAt: async () => undefined,
};
