import { z } from 'zod';

/** `cache:` — nginx-side caching of immutable content and tag microcache (issue: performance). */
export const cacheSectionSchema = z.object({}).strict().default({});
/** Per-registry `cache:` override. */
export const registryCacheSchema = z.object({}).strict().optional();

export type CacheConfig = Record<string, never>;

export function toCacheConfig(_raw: z.infer<typeof cacheSectionSchema>): CacheConfig {
  return {};
}

export type RegistryCacheConfig = Record<string, never> | null;

export function toRegistryCacheConfig(raw: z.infer<typeof registryCacheSchema>): RegistryCacheConfig {
  return raw ? {} : null;
}
