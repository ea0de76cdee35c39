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
  /** scheme://host[:port] of the real upstream. */
  origin: string;
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

/** Registries whose config asks for egress (before any reason it cannot be had). */
export function egressWanted(config: RegcacheConfig): string[] {
  return config.registries.filter((r) => r.egress ?? config.egress.enabled).map((r) => r.name);
}

export function egressPlan(input: {
  config: RegcacheConfig;
  /** Egress port per registry that wants one. */
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
  if (!input.loopback) {
    notes.push({
      vhost: null,
      message:
        'egress needs nginx as a child process and the caches on its loopback (runtime process, or docker.network: host); caches reach their upstreams directly',
    });
    return { ...NO_EGRESS, notes };
  }
  if (!caFile) {
    notes.push({ vhost: null, message: 'egress is off: no CA bundle to verify upstreams with; set egress.caFile (or install ca-certificates)' });
    return { ...NO_EGRESS, notes };
  }
  for (const registry of config.registries) {
    if (!wanted.has(registry.name)) continue;
    const port = input.ports.get(registry.name);
    if (port === undefined) continue;
    const host = new URL(registry.upstream).hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host) === 0 && resolvers.length === 0) {
      notes.push({ vhost: registry.name, message: `egress is off: nginx needs a DNS resolver for ${host}; set egress.resolver` });
      continue;
    }
    if (host === 'localhost' || host.endsWith('.localhost')) {
      notes.push({ vhost: registry.name, message: `egress is off: DNS does not resolve ${host}; use 127.0.0.1` });
      continue;
    }
    routes.set(registry.name, { name: registry.name, listen: `127.0.0.1:${port}`, remoteUrl: `http://127.0.0.1:${port}`, origin: registry.upstream });
  }
  return { routes, resolvers, caFile, caMaterial: config.egress.caFile ? config.egress.caMaterial : null, notes };
}
