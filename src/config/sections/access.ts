import { z } from 'zod';

/** `access:` — who may pull through the caches (issue: security). */
export const accessSectionSchema = z.object({}).strict().optional();
/** Per-registry `access:` override. */
export const registryAccessSchema = z.object({}).strict().optional();

export type AccessConfig = Record<string, never> | null;

export function toAccessConfig(raw: z.infer<typeof accessSectionSchema>): AccessConfig {
  return raw ? {} : null;
}

export type RegistryAccessConfig = Record<string, never> | null;

export function toRegistryAccessConfig(raw: z.infer<typeof registryAccessSchema>): RegistryAccessConfig {
  return raw ? {} : null;
}
