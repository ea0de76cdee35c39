import net from 'node:net';
import { z } from 'zod';
import { fingerprint } from '../config-files.js';
import { duration } from './cache.js';
import { addProblem, readReferenced, safePath, type SectionContext } from './section-context.js';

/**
 * `egress:` — each cache reaches its upstream through nginx instead of directly (issue: performance).
 * distribution 2.8 downloads every missing blob twice (one stream to the client, one to its storage)
 * and does not merge concurrent misses; behind nginx's digest-keyed lock the upstream serves it once.
 * nginx also follows the upstream's CDN redirects itself, so the download is merged there too.
 */

const nameserver = z
  .string()
  .transform((s) => s.trim())
  .refine((s) => net.isIP(s) !== 0, { message: 'must be an IPv4 or IPv6 address (nginx asks it for upstream and CDN names)' });

/** A redirect target nginx may follow although it is a private address: `cdn.internal`, `*.corp.example` or `10.1.2.3`. */
const redirectHost = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .refine((s) => net.isIPv4(s) || /^(\*\.)?(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(s), {
    message: 'must be a host name, *.domain or an IPv4 address',
  });

export const egressSectionSchema = z
  .object({
    /** Route caches' upstream traffic through nginx (per registry: registries.<name>.egress). */
    enabled: z.boolean().default(true),
    /** DNS servers nginx resolves upstream and redirect hosts with; default: the nameservers in /etc/resolv.conf. */
    resolver: z.array(nameserver).min(1).max(8).optional(),
    /** PEM bundle nginx verifies upstream certificates against; default: the system bundle. */
    caFile: safePath.optional(),
    /** Private hosts upstream redirects may lead to (an internal CDN); loopback, private and link-local targets are refused otherwise. */
    redirectAllow: z.array(redirectHost).max(64).default([]),
    /** How long a mirror that failed (no connection, timeout, 5xx, 429) is skipped before it is tried again. */
    mirrorBackoff: duration('a duration', 1, 3600).default('30s'),
  })
  .strict()
  .default({});

/** Per-registry switch; absent follows egress.enabled. */
export const registryEgressSchema = z.boolean().optional();

export interface EgressConfig {
  enabled: boolean;
  /** null: use the system's nameservers. */
  resolvers: string[] | null;
  /** Absolute path; null: use the system bundle. */
  caFile: string | null;
  /** Hash of the bundle's contents: part of the rendered config, so an updated bundle reloads nginx. */
  caMaterial: string | null;
  /** Hosts a redirect may lead to even when they are private addresses. */
  redirectAllow: string[];
  /** Seconds a failed upstream mirror is skipped (nginx's fail_timeout). */
  mirrorBackoffSeconds: number;
}

export function toEgressConfig(raw: z.infer<typeof egressSectionSchema>, ctx: SectionContext): EgressConfig {
  const ca = raw.caFile === undefined ? null : readReferenced(ctx, ['egress', 'caFile'], raw.caFile);
  if (ca && !ca.text.includes('-----BEGIN CERTIFICATE-----')) addProblem(ctx, ['egress', 'caFile'], `${ca.path} holds no PEM certificate`);
  return {
    enabled: raw.enabled,
    resolvers: raw.resolver ?? null,
    caFile: ca?.path ?? null,
    caMaterial: ca ? fingerprint([ca.text]) : null,
    redirectAllow: raw.redirectAllow,
    mirrorBackoffSeconds: raw.mirrorBackoff,
  };
}
