import { z } from 'zod';
import { parseListen, type ListenAddress } from '../address.js';
import { fingerprint } from '../config-files.js';
import { addProblem, readReferenced, safePath, type SectionContext } from './section-context.js';

/** `tls:` — the https listener, its certificates and optional client certificates (issue: security). */

const listen = z.union([z.string(), z.number()]).superRefine((value, ctx) => {
  const parsed = parseListen(value, '0.0.0.0');
  if (typeof parsed === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed });
});

export const tlsSectionSchema = z
  .object({
    listen: listen.default('5443'),
    cert: safePath,
    key: safePath,
    clientCA: safePath.optional(),
    httpDisabled: z.boolean().default(false),
  })
  .strict()
  .optional();

/** Per-registry `tls:` override: its own certificate for its hosts (needs the global section's listener). */
export const registryTlsSchema = z.object({ cert: safePath, key: safePath }).strict().optional();

export interface CertificatePair {
  /** Absolute paths; nginx reads them at start and on every reload. */
  cert: string;
  key: string;
  /** The certificate file's text as read with this config (public; for the host-coverage check). */
  certPem: string;
}

export interface TlsConfig extends CertificatePair {
  listen: ListenAddress;
  /** CA bundle that client certificates must chain to; null when client certificates are not asked for. */
  clientCA: string | null;
  /** Plain http serves no registry; it answers only regcache's own probe on loopback. */
  httpDisabled: boolean;
  /**
   * Hash of the contents of every certificate file. It is part of the rendered nginx config, so a
   * renewed certificate changes the config bytes and the usual validate → swap → reload path runs.
   */
  material: string;
}

export type RegistryTlsConfig = (CertificatePair & { material: string }) | null;

export function toTlsConfig(raw: z.infer<typeof tlsSectionSchema>, ctx: SectionContext): TlsConfig | null {
  if (!raw) return null;
  const pair = readPair(ctx, ['tls'], raw);
  const ca = raw.clientCA === undefined ? null : readReferenced(ctx, ['tls', 'clientCA'], raw.clientCA);
  if (ca && !ca.text.includes('-----BEGIN CERTIFICATE-----')) addProblem(ctx, ['tls', 'clientCA'], `${ca.path} holds no PEM certificate`);
  if (!pair) return null;
  return {
    listen: parseListen(raw.listen, '0.0.0.0') as ListenAddress,
    cert: pair.cert,
    key: pair.key,
    certPem: pair.certPem,
    clientCA: ca?.path ?? null,
    httpDisabled: raw.httpDisabled,
    material: fingerprint([pair.material, ca?.text ?? '']),
  };
}

export function toRegistryTlsConfig(raw: z.infer<typeof registryTlsSchema>, ctx: SectionContext, registry: string): RegistryTlsConfig {
  if (!raw) return null;
  const pair = readPair(ctx, ['registries', registry, 'tls'], raw);
  return pair ? { cert: pair.cert, key: pair.key, certPem: pair.certPem, material: fingerprint([pair.material]) } : null;
}

function readPair(ctx: SectionContext, at: string[], raw: { cert: string; key: string }): (CertificatePair & { material: string }) | null {
  const cert = readReferenced(ctx, [...at, 'cert'], raw.cert);
  const key = readReferenced(ctx, [...at, 'key'], raw.key);
  if (cert && !cert.text.includes('-----BEGIN CERTIFICATE-----')) addProblem(ctx, [...at, 'cert'], `${cert.path} holds no PEM certificate`);
  if (key && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.text)) addProblem(ctx, [...at, 'key'], `${key.path} holds no PEM private key`);
  if (!cert || !key) return null;
  return { cert: cert.path, key: key.path, certPem: cert.text, material: fingerprint([cert.text, key.text]) };
}
