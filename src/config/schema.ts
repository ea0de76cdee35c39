import { z } from 'zod';
import { isDnsName, nginxKeyword, parseListen } from './address.js';
import { accessSectionSchema, registryAccessSchema } from './sections/access.js';
import { cacheSectionSchema, registryCacheSchema } from './sections/cache.js';
import { clusterSectionSchema } from './sections/cluster.js';
import { dockerSectionSchema } from './sections/docker.js';
import { egressSectionSchema, registryEgressSchema } from './sections/egress.js';
import { registryRepositoriesSchema } from './sections/repositories.js';
import { registryTlsSchema, tlsSectionSchema } from './sections/tls.js';
import { warmSectionSchema } from './sections/warm.js';

/** Shape of registries.yaml as users write it. Strict: unknown keys are errors. */

const dnsName = (what: string) =>
  z
    .string({ invalid_type_error: `${what} must be a string` })
    .transform((s) => s.trim().toLowerCase())
    .refine(isDnsName, { message: `must be a DNS name (letters, digits, '-' and '.')` })
    .refine((s) => !nginxKeyword(s), { message: `must not be an nginx map keyword (default, hostnames, include, volatile)` });

const listen = (defaultHost: string) =>
  z.union([z.string(), z.number()]).superRefine((value, ctx) => {
    const parsed = parseListen(value, defaultHost);
    if (typeof parsed === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed });
  });

// scheme://host[:port] and nothing else: no path, query, fragment (not even an empty `?` or `#`),
// credentials, control characters, or `http:host` without slashes.
const UPSTREAM_URL = /^https?:\/\/([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?\/*$/i;

const upstreamUrl = z.string().superRefine((value, ctx) => {
  const fail = (message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, message });
  if (/[\s\p{Cc}"'`;{}\\$<>|]/u.test(value)) return fail('must not contain whitespace, control characters, quotes, semicolons, braces or $');
  if (!/^https?:/i.test(value)) return fail('must use http or https (e.g. https://registry-1.docker.io)');
  if (/@/.test(value)) return fail('must not contain credentials; use username/password');
  const match = UPSTREAM_URL.exec(value);
  if (!match) return fail('must be scheme://host[:port] with no path, query or fragment');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail('is not an absolute URL (e.g. https://registry-1.docker.io)');
  }
  if (match[2] !== undefined && (Number(match[2]) < 1 || Number(match[2]) > 65535)) return fail('port must be 1-65535');
  if (url.hostname === '') return fail('must name a host');
});

const optionalString = z.union([z.string(), z.number()]).transform(String).optional();

export const registrySchema = z
  .object({
    upstream: upstreamUrl,
    username: optionalString,
    password: optionalString,
    /** File holding the password (Docker/Kubernetes secrets); read at load, trailing newline dropped. */
    passwordFile: z
      .string()
      .min(1)
      .regex(/^[^\0\r\n]+$/, 'must be a path on one line')
      .optional(),
    aliases: z.array(dnsName('alias')).default([]),
    /** The registry host images are named by (`docker.io` in `docker.io/library/alpine`); default: the cache's name. */
    mirrorOf: dnsName('mirrorOf').optional(),
    /** Order among caches with the same mirrorOf: clients try lower first, `?ns=` goes to the lowest. */
    mirrorOrder: z.number().int().min(1).max(1000).optional(),
    cache: registryCacheSchema,
    tls: registryTlsSchema,
    access: registryAccessSchema,
    /** allow/deny lists of repository patterns, answered by the router before any cache or upstream call. */
    repositories: registryRepositoriesSchema,
    /** false: this cache talks to its upstream directly, not through nginx's egress (see egress:). */
    egress: registryEgressSchema,
  })
  .strict();

export const configSchema = z
  .object({
    domain: dnsName('domain'),
    /** `dotted`: `docker.io.<domain>`; `dashed`: `docker-io.<domain>`, one label, so `*.<domain>` certificates cover it. */
    hostStyle: z.enum(['dotted', 'dashed']).default('dotted'),
    listen: listen('0.0.0.0').default('5000'),
    admin: z
      .object({
        listen: listen('127.0.0.1').default('127.0.0.1:8080'),
        // Bearer token for /api/ (falls back to REGCACHE_ADMIN_TOKEN); an empty value means none.
        token: optionalString,
        // /metrics without the token, for scrapers on a trusted network.
        metricsPublic: z.boolean().default(false),
        // Names a browser may use for the admin API (Host header) besides its addresses and localhost.
        hosts: z.array(dnsName('admin host')).max(64).default([]),
      })
      .strict()
      .default({}),
    runtime: z.enum(['process', 'docker', 'auto']).default('auto'),
    dataDir: z
      .string()
      .min(1)
      .regex(/^[^\s"'`;{}$\\]+$/, 'must be a path without whitespace, quotes, semicolons, braces or $')
      .default('./data'),
    nginx: z
      .object({
        user: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]*$/i, 'must be a user name')
          .optional(),
        workerProcesses: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default('auto'),
        // nginx runs in this (existing) container instead of as a child process.
        container: z
          .string()
          .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'must be a Docker container name')
          .optional(),
      })
      .strict()
      .default({}),
    docker: dockerSectionSchema,
    cache: cacheSectionSchema,
    egress: egressSectionSchema,
    tls: tlsSectionSchema,
    access: accessSectionSchema,
    /** Images fetched through the router ahead of pulls, optionally re-resolved periodically. */
    warm: warmSectionSchema,
    /** Several nodes as one cache, sharded by digest (docs/cluster.md); absent: a single node. */
    cluster: clusterSectionSchema,
    registries: z.record(z.string(), registrySchema).refine((r) => Object.keys(r).length > 0, {
      message: 'must list at least one registry',
    }),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
export type RawRegistry = z.infer<typeof registrySchema>;
