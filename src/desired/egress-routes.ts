import net from 'node:net';
import type { RegcacheConfig } from '../config/model.js';

/**
 * Which caches reach their upstream through nginx's egress, and where. Pure: the ports, the
 * system's nameservers and CA bundle, and whether caches share nginx's loopback come in as data.
 */

/** One cache's egress: nginx listens here and proxies to the upstream; the cache's proxy.remoteurl points here. */
export interface EgressRoute {
  name: string;
  /** 127.0.0.1:PORT, where nginx listens for this cache. */
  listen: string;
  /** What the cache uses as proxy.remoteurl. */
  remoteUrl: string;
  /** scheme://host[:port] of the real upstream (the first mirror of a list). */
  origin: string;
  /**
   * With a mirror list: one internal hop listener per mirror, in order. The cache's listener proxies
   * to them as one nginx upstream group (failover, backoff); each hop proxies to its mirror with that
   * mirror's Host and SNI. Empty for a single upstream.
   */
  mirrors: EgressMirror[];
}

export interface EgressMirror {
  /** scheme://host[:port] of the mirror. */
  origin: string;
  /** 127.0.0.1:PORT of its hop listener in the egress nginx. */
  listen: string;
}

/** The port book key of a registry's hop listener for mirror `index` ('#' is never in a registry name). */
export function mirrorPortKey(name: string, index: number): string {
  return `${name}#${index}`;
}

export interface EgressSystem {
  /** Nameservers found in /etc/resolv.conf. */
  resolvers: string[];
  /** The system CA bundle, if one was found. */
  caFile: string | null;
}

export interface EgressPlan {
  routes: ReadonlyMap<string, EgressRoute>;
  /** Nameservers nginx resolves upstream and redirect hosts with. */
  resolvers: string[];
  caFile: string | null;
  /** Hash of a configured bundle's contents (null for the system bundle). */
  caMaterial: string | null;
  /** Why a registry that wants egress goes direct instead; logged and shown as events. */
  notes: Array<{ vhost: string | null; message: string }>;
}

export const NO_EGRESS: EgressPlan = { routes: new Map(), resolvers: [], caFile: null, caMaterial: null, notes: [] };

/**
 * Whether a cache can reach the egress nginx on 127.0.0.1: it runs as a child process beside nginx
 * (so not with nginx.container), and the caches share the host's loopback (process runtime, or
 * Docker with host networking).
 */
export function sharesLoopback(config: RegcacheConfig, runtime: 'process' | 'docker'): boolean {
  return !config.nginx.container && (runtime === 'process' || config.docker.network === 'host');
}

/** The port book keys of the hop listeners a registry's mirror list needs (none for a single upstream). */
export function mirrorPortKeys(registry: { name: string; upstreams: readonly string[] }): string[] {
  return registry.upstreams.length > 1 ? registry.upstreams.map((_, i) => mirrorPortKey(registry.name, i)) : [];
}

/** Registries whose config asks for egress (before any reason it cannot be had). */
export function egressWanted(config: RegcacheConfig): string[] {
  return config.registries.filter((r) => r.egress ?? config.egress.enabled).map((r) => r.name);
}

export function egressPlan(input: {
  config: RegcacheConfig;
  /** Egress port per registry that wants one, and per hop listener of a mirror list (mirrorPortKey). */
  ports: ReadonlyMap<string, number>;
  system: EgressSystem;
  /** Caches share nginx's loopback: process runtime, or Docker with host networking. */
  loopback: boolean;
}): EgressPlan {
  const { config } = input;
  const wanted = new Set(egressWanted(config));
  const resolvers = config.egress.resolvers ?? input.system.resolvers;
  const caFile = config.egress.caFile ?? input.system.caFile;
  const notes: EgressPlan['notes'] = [];
  const routes = new Map<string, EgressRoute>();
  if (wanted.size === 0) return { ...NO_EGRESS, notes };
  // Failover between mirrors lives in the egress nginx: without it a cache uses its first mirror only.
  const firstMirrorOnly = (why: string) => {
    for (const r of config.registries) {
      if (wanted.has(r.name) && r.upstreams.length > 1)
        notes.push({ vhost: r.name, message: `${why}: the cache uses its first mirror ${r.upstream} only, without failover` });
    }
  };
  if (!input.loopback) {
    firstMirrorOnly('no egress nginx');
    notes.push({
      vhost: null,
      message:
        'egress needs nginx as a child process and the caches on its loopback (runtime process, or docker.network: host); caches reach their upstreams directly',
    });
    return { ...NO_EGRESS, notes };
  }
  if (!caFile) {
    firstMirrorOnly('no egress nginx');
    notes.push({ vhost: null, message: 'egress is off: no CA bundle to verify upstreams with; set egress.caFile (or install ca-certificates)' });
    return { ...NO_EGRESS, notes };
  }
  for (const registry of config.registries) {
    if (!wanted.has(registry.name)) continue;
    const port = input.ports.get(registry.name);
    if (port === undefined) continue;
    const problem = registry.upstreams.map((u) => unresolvable(u, resolvers)).find((p) => p !== null);
    if (problem) {
      const only = registry.upstreams.length > 1 ? `; the cache uses its first mirror ${registry.upstream} only, without failover` : '';
      notes.push({ vhost: registry.name, message: problem + only });
      continue;
    }
    const hopPorts = registry.upstreams.length > 1 ? registry.upstreams.map((_, i) => input.ports.get(mirrorPortKey(registry.name, i))) : [];
    if (hopPorts.some((p) => p === undefined)) continue;
    routes.set(registry.name, {
      name: registry.name,
      listen: `127.0.0.1:${port}`,
      remoteUrl: `http://127.0.0.1:${port}`,
      origin: registry.upstream,
      mirrors: hopPorts.map((p, i) => ({ origin: registry.upstreams[i]!, listen: `127.0.0.1:${p}` })),
    });
  }
  return { routes, resolvers, caFile, caMaterial: config.egress.caFile ? config.egress.caMaterial : null, notes };
}

/** Why nginx could not reach `upstream` by name, or null. */
function unresolvable(upstream: string, resolvers: readonly string[]): string | null {
  const host = new URL(upstream).hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) === 0 && resolvers.length === 0) return `egress is off: nginx needs a DNS resolver for ${host}; set egress.resolver`;
  if (host === 'localhost' || host.endsWith('.localhost')) return `egress is off: DNS does not resolve ${host}; use 127.0.0.1`;
  return null;
}
