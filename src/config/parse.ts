import path from 'node:path';
import type { ZodIssue } from 'zod';
import { isDnsName, nginxKeyword, parseListen, type ListenAddress } from './address.js';
import { noFileReader, type ReadConfigFile } from './config-files.js';
import { expandEnv } from './expand-env.js';
import type { HostStyle, RegcacheConfig, RegistryConfig } from './model.js';
import { boundProblems, joinPath, type ConfigProblem, type Result } from './problems.js';
import { readYaml } from './read-yaml.js';
import { configSchema, type RawConfig } from './schema.js';
import { toAccessConfig, toRegistryAccessConfig } from './sections/access.js';
import { toCacheConfig, toRegistryCacheConfig } from './sections/cache.js';
import { toClusterConfig } from './sections/cluster.js';
import { toDockerConfig } from './sections/docker.js';
import { toEgressConfig } from './sections/egress.js';
import { parseImageReference } from './image-reference.js';
import { toRepositoryRules } from './sections/repositories.js';
import { toWarmConfig } from './sections/warm.js';
import type { SectionContext } from './sections/section-context.js';
import { readReferenced } from './sections/section-context.js';
import { certificateCoverage } from './sections/tls-coverage.js';
import { directRedirectWarnings } from './sections/direct-redirects.js';
import { toRegistryTlsConfig, toTlsConfig } from './sections/tls.js';

export interface ParseContext {
  /** Absolute path of the config file; relative paths in it resolve against its directory. */
  source: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Reads files the config refers to (certificates, htpasswd, passwordFile). Without it, such keys are problems. */
  readFile?: ReadConfigFile;
}

/**
 * Text in, validated model or a list of problems out. No I/O, never throws, and the problems are
 * bounded (at most MAX_PROBLEMS, each of bounded length) whatever the text.
 */
export function parseConfig(text: string, ctx: ParseContext): Result<RegcacheConfig> {
  let result: Result<RegcacheConfig>;
  try {
    result = parseUnbounded(text, ctx);
  } catch (err) {
    // A bug here must reject the file, not kill the daemon; the message never quotes the file.
    result = { ok: false, problems: [{ path: '', message: `the config could not be read (${err instanceof Error ? err.name : 'error'})` }] };
  }
  return result.ok ? result : { ok: false, problems: boundProblems(result.problems) };
}

const TOP_LEVEL_KEYS = new Set(Object.keys(configSchema.shape));

function parseUnbounded(text: string, ctx: ParseContext): Result<RegcacheConfig> {
  const read = readYaml(text);
  if (!read.ok) return read;
  const raw = read.value ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, problems: [{ path: '', message: 'the file must be a YAML mapping (domain:, registries:, …)' }] };
  }
  const keys = Object.keys(raw);
  if (keys.length > 0 && !keys.some((k) => TOP_LEVEL_KEYS.has(k))) {
    // Another file (a symlink gone wrong, /etc/passwd): say so without quoting its content.
    return {
      ok: false,
      problems: [
        { path: '', message: `this is not a regcache config: none of its ${keys.length} top-level keys is a regcache key (domain:, registries:, …)` },
      ],
    };
  }
  const expanded = expandEnv(raw, ctx.env);
  if (expanded.problems.length > 0) return { ok: false, problems: expanded.problems };

  const parsed = configSchema.safeParse(expanded.value);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.flatMap(issueToProblems) };

  const problems = semanticProblems(parsed.data);
  if (problems.length > 0) return { ok: false, problems };
  const sections: SectionContext = { source: ctx.source, readFile: ctx.readFile ?? noFileReader, problems: [], referenced: [] };
  const model = toModel(parsed.data, sections, ctx.env);
  if (sections.problems.length > 0) return { ok: false, problems: sections.problems };
  return { ok: true, value: model };
}

function issueToProblems(issue: ZodIssue): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: joinPath([...issue.path, key]), message: 'unknown key' }));
  }
  if (issue.code === 'invalid_type' && issue.received === 'undefined') {
    return [{ path: joinPath(issue.path), message: 'is required' }];
  }
  return [{ path: joinPath(issue.path), message: issue.message }];
}

/** Checks that need the whole document: names, collisions, credential pairs. */
function semanticProblems(raw: RawConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const hostOwner = new Map<string, string>();
  const slugOwner = new Map<string, string>();
  for (const [name, registry] of Object.entries(raw.registries)) {
    const at = (field?: string) => joinPath(field ? ['registries', name, field] : ['registries', name]);
    if (name !== name.toLowerCase() || !isDnsName(name)) {
      problems.push({ path: at(), message: 'registry name must be a lower-case DNS name such as docker.io' });
      continue;
    }
    if (nginxKeyword(name)) {
      problems.push({ path: at(), message: `"${name}" cannot be a registry name: nginx reads it as a keyword in a map` });
      continue;
    }
    const slug = registrySlug(name);
    const clash = slugOwner.get(slug);
    if (clash) problems.push({ path: at(), message: `name maps to the same cache id "${slug}" as ${clash}` });
    slugOwner.set(slug, name);

    const hasUser = Boolean(registry.username);
    if (registry.password && registry.passwordFile) problems.push({ path: at('passwordFile'), message: 'set password or passwordFile, not both' });
    const hasPassword = Boolean(registry.password || registry.passwordFile);
    if (hasUser !== hasPassword) {
      problems.push({ path: at(hasUser ? 'password' : 'username'), message: 'username and password go together; set both or neither' });
    }
    if (registry.upstream.length > 1 && !(registry.egress ?? raw.egress.enabled)) {
      problems.push({
        path: at('upstream'),
        message: `a list of mirrors needs the egress nginx (failover happens there); remove egress: false${registry.egress === false ? '' : ' (egress.enabled is false)'} or give one upstream URL`,
      });
    }
    if (registry.tls && !raw.tls) problems.push({ path: at('tls'), message: 'needs the global tls section (its listener serves this certificate)' });
    for (const host of [`${vhostLabel(name, raw.hostStyle)}.${raw.domain}`, ...registry.aliases]) {
      const owner = hostOwner.get(host);
      if (owner !== undefined) {
        problems.push({ path: at('aliases'), message: `host ${host} is already claimed by ${owner}` });
      } else {
        hostOwner.set(host, name);
      }
    }
  }
  problems.push(...mirrorProblems(raw));
  problems.push(...warmProblems(raw));
  if (raw.tls) {
    const http = parseListen(raw.listen, '0.0.0.0') as ListenAddress;
    const https = parseListen(raw.tls.listen, '0.0.0.0') as ListenAddress;
    if (http.port === https.port) problems.push({ path: 'tls.listen', message: `port ${https.port} is already the http listen port` });
  }
  problems.push(...clusterListenProblems(raw));
  if (raw.admin.token && raw.admin.token.length < 16) problems.push({ path: 'admin.token', message: 'must be at least 16 characters' });
  return problems;
}

/** The peer listener is its own port: never the public (http, https) or admin listener's. */
function clusterListenProblems(raw: RawConfig): ConfigProblem[] {
  if (!raw.cluster) return [];
  const peer = parseListen(raw.cluster.listen, '0.0.0.0') as ListenAddress;
  const taken: Array<[string, ListenAddress]> = [
    ['listen', parseListen(raw.listen, '0.0.0.0') as ListenAddress],
    ['admin.listen', parseListen(raw.admin.listen, '127.0.0.1') as ListenAddress],
    ...(raw.tls ? [['tls.listen', parseListen(raw.tls.listen, '0.0.0.0') as ListenAddress] as [string, ListenAddress]] : []),
  ];
  return taken
    .filter(([, a]) => a.port === peer.port)
    .map(([key]) => ({ path: 'cluster.listen', message: `port ${peer.port} is already ${key}'s; the peer listener needs its own port` }));
}

/**
 * Two caches may mirror one registry host (two Docker Hub accounts, say) only when each says where it
 * stands with mirrorOrder: clients list the mirrors in that order and `?ns=<host>` routes to the first.
 */
function mirrorProblems(raw: RawConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const byHost = new Map<string, Array<[string, RawConfig['registries'][string]]>>();
  for (const [name, registry] of Object.entries(raw.registries)) {
    const host = registry.mirrorOf ?? name;
    byHost.set(host, [...(byHost.get(host) ?? []), [name, registry]]);
  }
  for (const [host, caches] of byHost) {
    if (caches.length < 2) continue;
    const names = caches.map(([name]) => name);
    const orders = new Map<number, string>();
    for (const [name, registry] of caches) {
      const path = joinPath(['registries', name, 'mirrorOrder']);
      const others = names.filter((n) => n !== name).join(', ');
      if (registry.mirrorOrder === undefined) {
        problems.push({
          path,
          message: `${host} is also mirrored by ${others}; give each of them a distinct mirrorOrder (clients try lower first, ?ns=${host} goes to the lowest)`,
        });
        continue;
      }
      const clash = orders.get(registry.mirrorOrder);
      if (clash) problems.push({ path, message: `mirrorOrder ${registry.mirrorOrder} is already ${clash}'s for ${host}; use distinct numbers` });
      orders.set(registry.mirrorOrder, name);
    }
  }
  return problems;
}

/** Each warm image must belong to a registry host some cache mirrors (mirrorOf, default: the cache's name). */
function warmProblems(raw: RawConfig): ConfigProblem[] {
  const hosts = new Set(Object.entries(raw.registries).map(([name, r]) => r.mirrorOf ?? name));
  return (raw.warm?.images ?? []).flatMap((entry, i) => {
    const ref = parseImageReference(typeof entry === 'string' ? entry : entry.image);
    if ('error' in ref || hosts.has(ref.registry)) return [];
    const path = joinPath(typeof entry === 'string' ? ['warm', 'images', i] : ['warm', 'images', i, 'image']);
    return [{ path, message: `no cache mirrors ${ref.registry} (caches mirror ${[...hosts].join(', ')}); add a registry or set mirrorOf` }];
  });
}

/** The first label(s) of a cache's vhost: its name, or with hostStyle dashed its name as one label (`docker-io`). */
export function vhostLabel(name: string, style: HostStyle): string {
  return style === 'dashed' ? registrySlug(name) : name;
}

/** Stable identifier used for file names, container names and nginx upstream names. */
export function registrySlug(name: string): string {
  return name.replace(/[^a-z0-9]+/g, '-');
}

function toModel(raw: RawConfig, sections: SectionContext, env: ParseContext['env']): RegcacheConfig {
  const { source } = sections;
  const listen = parseListen(raw.listen, '0.0.0.0') as ListenAddress;
  const adminListen = parseListen(raw.admin.listen, '127.0.0.1') as ListenAddress;
  const registries: RegistryConfig[] = Object.entries(raw.registries)
    .map(([name, r]) => ({
      name,
      mirrorOf: r.mirrorOf ?? name,
      mirrorOrder: r.mirrorOrder ?? null,
      upstream: r.upstream[0]!.replace(/\/+$/, ''),
      upstreams: r.upstream.map((u) => u.replace(/\/+$/, '')),
      credentials: credentials(name, r, sections),
      hosts: [`${vhostLabel(name, raw.hostStyle)}.${raw.domain}`, ...r.aliases],
      cache: toRegistryCacheConfig(r.cache),
      egress: r.egress ?? null,
      tls: toRegistryTlsConfig(r.tls, sections, name),
      access: toRegistryAccessConfig(r.access, sections, name),
      repositories: toRepositoryRules(r.repositories),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const tls = toTlsConfig(raw.tls, sections);
  const egress = toEgressConfig(raw.egress, sections);
  return {
    source,
    domain: raw.domain,
    hostStyle: raw.hostStyle,
    listen,
    admin: { listen: adminListen, token: adminToken(raw, sections, env), metricsPublic: raw.admin.metricsPublic, hosts: raw.admin.hosts },
    runtime: raw.runtime,
    dataDir: path.resolve(path.dirname(source), raw.dataDir),
    nginx: { user: raw.nginx.user ?? null, workerProcesses: raw.nginx.workerProcesses, container: raw.nginx.container ?? null },
    docker: toDockerConfig(raw.docker),
    cache: toCacheConfig(raw.cache),
    egress,
    tls,
    access: toAccessConfig(raw.access, sections),
    warm: toWarmConfig(raw.warm),
    cluster: toClusterConfig(raw.cluster, sections),
    registries,
    warnings: [...certificateCoverage(tls, registries, raw.hostStyle, raw.domain), ...directRedirectWarnings(registries, egress.enabled)],
    referencedFiles: sections.referenced,
  };
}

/** The upstream login; a passwordFile is read here (one trailing newline dropped, as secrets files end with one). */
function credentials(name: string, r: RawConfig['registries'][string], sections: SectionContext): RegistryConfig['credentials'] {
  if (!r.username) return null;
  if (r.passwordFile) {
    const file = readReferenced(sections, ['registries', name, 'passwordFile'], r.passwordFile);
    const password = file?.text.replace(/\r?\n$/, '') ?? '';
    if (file && !password) sections.problems.push({ path: `registries.${name}.passwordFile`, message: `${file.path} is empty` });
    return password ? { username: r.username, password } : null;
  }
  return r.password ? { username: r.username, password: r.password } : null;
}

function adminToken(raw: RawConfig, sections: SectionContext, env: ParseContext['env']): string | null {
  if (raw.admin.token) return raw.admin.token;
  const fromEnv = env.REGCACHE_ADMIN_TOKEN;
  if (!fromEnv) return null;
  if (fromEnv.length < 16) sections.problems.push({ path: 'admin.token', message: 'REGCACHE_ADMIN_TOKEN must be at least 16 characters' });
  return fromEnv;
}
