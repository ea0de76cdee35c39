import { z } from 'zod';
import { parseImageReference } from '../image-reference.js';
import { parsePlatform } from '../platform.js';
import { duration } from './cache.js';

/**
 * `warm:` — images fetched through the router ahead of the first pull, and kept fresh by re-resolving
 * their tags every `every` (issue: cache control). Which cache serves an image is its registry host's
 * mirrorOf; that check needs the registries and lives in parse.ts.
 */

const platform = z
  .string()
  .refine((s) => parsePlatform(s) !== null, { message: 'must be os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm64/v8' });

const image = z.string({ invalid_type_error: 'must be an image reference' }).superRefine((value, ctx) => {
  const ref = parseImageReference(value);
  if ('error' in ref) ctx.addIssue({ code: z.ZodIssueCode.custom, message: ref.error });
});

const every = duration('an interval', 10, 30 * 86_400);

const entry = z.union([
  image,
  z
    .object({
      image,
      /** Platforms of this image; default: warm.platforms, else the host's. */
      platforms: z.array(platform).min(1).max(32).optional(),
      /** Re-resolve and fetch again this often; default: warm.every, else once. */
      every: every.optional(),
      /** Never evict this image's content (cache.maxSize LRU, distribution's proxy expiry); see src/pin/. */
      // A refinement, not z.boolean(): inside the union a type error would only say "Invalid input".
      pin: z
        .any()
        .superRefine((v, ctx) => {
          if (typeof v !== 'boolean') ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be true or false' });
        })
        .optional() as z.ZodOptional<z.ZodType<boolean>>,
    })
    .strict(),
]);

export const warmSectionSchema = z
  .object({
    /** Platforms every warm fetches (config, CLI and API) unless told otherwise; default: the host's. */
    platforms: z.array(platform).min(1).max(32).optional(),
    every: every.optional(),
    images: z.array(entry).max(1000).default([]),
  })
  .strict()
  .optional();

type RawWarm = z.infer<typeof warmSectionSchema>;

export interface WarmEntry {
  /** As written; canonical form comes from resolving it. */
  image: string;
  /** null: warm.platforms, else the host's. */
  platforms: string[] | null;
  /** null: once (after start or when the entry appears). */
  everySeconds: number | null;
  /** Pinned: the resolved content is exempt from eviction and expiry. */
  pin: boolean;
}

export interface WarmConfig {
  /** Default platforms; null: the host's. */
  platforms: string[] | null;
  entries: WarmEntry[];
}

export function toWarmConfig(raw: RawWarm): WarmConfig {
  if (!raw) return { platforms: null, entries: [] };
  return {
    platforms: raw.platforms ?? null,
    entries: raw.images.map((e) =>
      typeof e === 'string'
        ? { image: e, platforms: null, everySeconds: raw.every ?? null, pin: false }
        : { image: e.image, platforms: e.platforms ?? null, everySeconds: e.every ?? raw.every ?? null, pin: e.pin ?? false },
    ),
  };
}
