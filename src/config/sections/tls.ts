import { z } from 'zod';

/** `tls:` — https listener and certificates (issue: security). */
export const tlsSectionSchema = z.object({}).strict().optional();
/** Per-registry `tls:` override. */
export const registryTlsSchema = z.object({}).strict().optional();

export type TlsConfig = Record<string, never> | null;

export function toTlsConfig(raw: z.infer<typeof tlsSectionSchema>): TlsConfig {
  return raw ? {} : null;
}

export type RegistryTlsConfig = Record<string, never> | null;

export function toRegistryTlsConfig(raw: z.infer<typeof registryTlsSchema>): RegistryTlsConfig {
  return raw ? {} : null;
}
