import { z } from 'zod';

/**
 * `cache:` — nginx-side caching in front of every registry cache (issue: performance).
 * Blobs and manifests addressed by digest are immutable and kept until LRU eviction; tag manifests
 * get a short microcache. Values land in nginx config, so they are parsed into numbers here and
 * the view formats them; no user string reaches nginx as is.
 */

const GIB = 1024 ** 3;
const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: GIB, t: 1024 * GIB };
const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** Smallest cache nginx can usefully bound (one manifest plus headroom). */
export const MIN_CACHE_BYTES = 1024 ** 2;
const MAX_CACHE_BYTES = 1024 ** 5;
const MAX_TAG_TTL_SECONDS = 86_400;

const byteSize = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const m = /^(\d{1,16})\s*([kmgt]?)i?b?$/i.exec(String(value).trim());
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(bytes)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${value}" is not a size such as 500m, 10g or 1t` });
    return z.NEVER;
  }
  if (bytes < MIN_CACHE_BYTES || bytes > MAX_CACHE_BYTES) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be between 1m and 1024t' });
    return z.NEVER;
  }
  return bytes;
});

export const duration = (what: string, minSeconds: number, maxSeconds: number) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const m = /^(\d{1,9})\s*([smhd]?)$/i.exec(String(value).trim());
    const seconds = m ? Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]! : NaN;
    if (!Number.isSafeInteger(seconds)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${value}" is not ${what} (seconds, or a number with s, m, h or d)` });
      return z.NEVER;
    }
    if (seconds < minSeconds || seconds > maxSeconds) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be between ${minSeconds} and ${maxSeconds} seconds` });
      return z.NEVER;
    }
    return seconds;
  });

/** An amount of disk (`512m`, `2g`) or a share of dataDir's file system (`2%`, at most 50%). */
const freeSpace = z.union([z.string(), z.number()]).transform((value, ctx): FreeSpace => {
  const text = String(value).trim();
  const percent = /^(\d{1,2}(?:\.\d{1,3})?)\s*%$/.exec(text);
  if (percent) {
    const share = Number(percent[1]);
    if (share <= 50) return { percent: share };
  } else {
    const m = /^(\d{1,16})\s*([kmgt]?)i?b?$/i.exec(text);
    const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]! : NaN;
    if (Number.isSafeInteger(bytes) && bytes <= MAX_CACHE_BYTES) return { bytes };
  }
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${value}" is neither a size such as 512m or 2g nor a share such as 2% (0–50%)` });
  return z.NEVER;
});

/** Free space to keep under dataDir: bytes, or a percentage of the file system's size. */
export type FreeSpace = { bytes: number } | { percent: number };

const tagTtl = duration('a duration', 0, MAX_TAG_TTL_SECONDS);

export const cacheSectionSchema = z
  .object({
    /** Disk bound per registry; nginx evicts least recently used entries beyond it. */
    maxSize: byteSize.default('10g'),
    /** Seconds a tag manifest is answered from nginx without asking the cache; 0 disables. */
    tagTTL: tagTtl.default(30),
    /** How long concurrent misses of one digest wait for the first download instead of fetching again. */
    lockTimeout: duration('a duration', 10, 7 * 86_400).default('1h'),
    /** Entries not read for this long are removed even below maxSize. */
    inactive: duration('a duration', 60, 3650 * 86_400).default('30d'),
    /** A fetch that receives nothing from its upstream for this long is abandoned (not a total time). */
    stallTimeout: duration('a duration', 1, 3600).default('60s'),
    /** Below this much free space under dataDir, cold pulls are refused and vhosts show degraded. */
    minFreeSpace: freeSpace.default('2%'),
  })
  .strict()
  .default({});

/** Per-registry `cache:` override. */
export const registryCacheSchema = z
  .object({
    maxSize: byteSize.optional(),
    tagTTL: tagTtl.optional(),
  })
  .strict()
  .optional();

export interface CacheConfig {
  maxSizeBytes: number;
  tagTtlSeconds: number;
  lockTimeoutSeconds: number;
  inactiveSeconds: number;
  stallTimeoutSeconds: number;
  minFreeSpace: FreeSpace;
}

export function toCacheConfig(raw: z.infer<typeof cacheSectionSchema>): CacheConfig {
  return {
    maxSizeBytes: raw.maxSize,
    tagTtlSeconds: raw.tagTTL,
    lockTimeoutSeconds: raw.lockTimeout,
    inactiveSeconds: raw.inactive,
    stallTimeoutSeconds: raw.stallTimeout,
    minFreeSpace: raw.minFreeSpace,
  };
}

export interface RegistryCacheConfig {
  maxSizeBytes: number | null;
  tagTtlSeconds: number | null;
}

export function toRegistryCacheConfig(raw: z.infer<typeof registryCacheSchema>): RegistryCacheConfig | null {
  if (!raw) return null;
  return { maxSizeBytes: raw.maxSize ?? null, tagTtlSeconds: raw.tagTTL ?? null };
}

/** The free-space floor in bytes for a file system of `totalBytes`. */
export function minFreeBytes(floor: FreeSpace, totalBytes: number): number {
  return 'bytes' in floor ? floor.bytes : Math.floor((totalBytes * floor.percent) / 100);
}

/** The cache settings one registry runs with: its override where set, else the global section. */
export function effectiveCache(global: CacheConfig, override: RegistryCacheConfig | null): CacheConfig {
  return {
    ...global,
    maxSizeBytes: override?.maxSizeBytes ?? global.maxSizeBytes,
    tagTtlSeconds: override?.tagTtlSeconds ?? global.tagTtlSeconds,
  };
}
