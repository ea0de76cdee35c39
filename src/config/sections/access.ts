import { isIP } from 'node:net';
import { z } from 'zod';
import { isDnsName } from '../address.js';
import { addProblem, readReferenced, safePath, type SectionContext } from './section-context.js';

/**
 * `access:` — who may pull through the caches, globally and per registry (issue: security).
 * Every value lands in nginx config, so each is validated to a narrow shape here.
 */

const cidr = z.string().superRefine((value, ctx) => {
  const problem = cidrProblem(value);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

const authRequestUrl = z.string().superRefine((value, ctx) => {
  const problem = authRequestProblem(value);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

const realm = z.string().regex(/^[A-Za-z0-9 ._-]{1,64}$/, "must be 1-64 letters, digits, spaces, '.', '_' or '-'");

// `null` or "" on a key switches that rule off (per registry: overrides the global rule).
const keys = {
  htpasswd: z.union([safePath, z.null()]).optional(),
  realm: realm.optional(),
  allow: z.array(cidr).nullable().optional(),
  authRequest: z.union([authRequestUrl, z.null()]).optional(),
};
const emptyToNull = (v: unknown) => (v === '' ? null : v);
const accessObject = z
  .object({
    htpasswd: z.preprocess(emptyToNull, keys.htpasswd),
    realm: keys.realm,
    allow: keys.allow,
    authRequest: z.preprocess(emptyToNull, keys.authRequest),
  })
  .strict();

export const accessSectionSchema = accessObject.optional();
/** Per-registry `access:` override: each key given replaces the global key of the same name. */
export const registryAccessSchema = accessObject.optional();

type RawAccess = z.infer<typeof accessObject>;

export interface HtpasswdFile {
  /** Absolute path; nginx reads it on every request, so edits apply without a reload. */
  path: string;
  users: number;
}

/** The rules that guard one cache. */
export interface AccessRules {
  htpasswd: HtpasswdFile | null;
  realm: string;
  /** Client networks allowed (CIDR, normalised); null lets every address through. */
  allow: string[] | null;
  /** External authenticator called through nginx auth_request; null when not used. */
  authRequest: string | null;
}

export type AccessConfig = AccessRules;
/** Only the keys the registry sets; null when it has no `access:`. */
export type RegistryAccessConfig = Partial<AccessRules> | null;

export const DEFAULT_REALM = 'regcache';

export function toAccessConfig(raw: RawAccess | undefined, ctx: SectionContext): AccessConfig {
  const rules = toRules(raw, ctx, ['access']);
  return {
    htpasswd: rules.htpasswd ?? null,
    realm: rules.realm ?? DEFAULT_REALM,
    allow: rules.allow ?? null,
    authRequest: rules.authRequest ?? null,
  };
}

export function toRegistryAccessConfig(raw: RawAccess | undefined, ctx: SectionContext, registry: string): RegistryAccessConfig {
  return raw ? toRules(raw, ctx, ['registries', registry, 'access']) : null;
}

/** The rules in force for one registry: its own keys over the global ones. */
export function effectiveAccess(global: AccessConfig, own: RegistryAccessConfig): AccessRules {
  if (!own) return global;
  return {
    htpasswd: own.htpasswd !== undefined ? own.htpasswd : global.htpasswd,
    realm: own.realm ?? global.realm,
    allow: own.allow !== undefined ? own.allow : global.allow,
    authRequest: own.authRequest !== undefined ? own.authRequest : global.authRequest,
  };
}

function toRules(raw: RawAccess | undefined, ctx: SectionContext, at: string[]): Partial<AccessRules> {
  if (!raw) return {};
  const out: Partial<AccessRules> = {};
  if (raw.htpasswd !== undefined) out.htpasswd = raw.htpasswd === null ? null : readHtpasswd(ctx, [...at, 'htpasswd'], raw.htpasswd);
  if (raw.realm !== undefined) out.realm = raw.realm;
  if (raw.allow !== undefined) out.allow = raw.allow === null ? null : [...new Set(raw.allow.map(normaliseCidr))];
  if (raw.authRequest !== undefined) out.authRequest = raw.authRequest === null ? null : normaliseAuthRequest(raw.authRequest);
  return out;
}

function readHtpasswd(ctx: SectionContext, at: string[], p: string): HtpasswdFile | null {
  const file = readReferenced(ctx, at, p);
  if (!file) return null;
  const entries = file.text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (entries.length === 0) {
    addProblem(ctx, at, `${file.path} has no user entries`);
    return null;
  }
  for (const [i, line] of entries.entries()) {
    const sep = line.indexOf(':');
    const hash = sep > 0 ? line.slice(sep + 1) : '';
    // nginx also takes crypt/MD5/SHA1 entries; only bcrypt resists offline guessing.
    if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
      addProblem(ctx, at, `${file.path} entry ${i + 1} is not "user:<bcrypt hash>" (create entries with: htpasswd -B FILE USER)`);
      return null;
    }
  }
  return { path: file.path, users: entries.length };
}

export function cidrProblem(value: string): string | null {
  const [ip, prefix, ...rest] = value.trim().split('/');
  const family = isIP(ip ?? '');
  if (rest.length > 0 || family === 0) return `"${value}" is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)`;
  if (prefix === undefined) return null;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${value}" has a prefix length outside 0-${max}`;
  return null;
}

function normaliseCidr(value: string): string {
  const [ip, prefix] = value.trim().split('/');
  const family = isIP(ip!);
  return `${ip!.toLowerCase()}/${prefix ?? (family === 4 ? 32 : 128)}`;
}

const UNSAFE_URL_CHARS = /[\s\p{Cc}"'`;{}\\$<>|#]/u;

export function authRequestProblem(value: string): string | null {
  if (UNSAFE_URL_CHARS.test(value)) return 'must not contain whitespace, quotes, semicolons, braces, # or $';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not an absolute URL (e.g. http://127.0.0.1:4180/oauth2/auth)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.search || url.hash) return 'must not have a query or fragment';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!(isIP(host) || isDnsName(host))) return 'host must be an IP address or DNS name';
  if (!/^[A-Za-z0-9._~/%-]*$/.test(url.pathname)) return 'path may hold only letters, digits and . _ ~ / % -';
  return null;
}

function normaliseAuthRequest(value: string): string {
  const url = new URL(value);
  return `${url.protocol}//${url.host}${url.pathname}`;
}
