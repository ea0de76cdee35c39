import { formatListen } from '../../config/address.js';
import type { RegcacheConfig } from '../../config/model.js';

/** Where the rendered config points nginx at: pid, logs, temp. Chosen by the nginx driver. */
export interface NginxPaths {
  pid: string;
  errorLog: string;
  accessLog: string;
  temp: string;
}

export interface NginxRoute {
  name: string;
  upstreamId: string;
  address: string;
}

/** Everything the nginx template reads, already validated and flattened: the template holds layout only. */
export interface NginxView {
  generation: number;
  user: string | null;
  workerProcesses: number | 'auto';
  listen: string;
  paths: NginxPaths;
  routes: NginxRoute[];
  hosts: Array<{ host: string; upstreamId: string }>;
}

export function upstreamId(registryName: string): string {
  return `cache_${registryName.replace(/[^a-z0-9]+/g, '_')}`;
}

/**
 * Builds the view from config and the live backend addresses. Registries without a backend
 * address are left out: nginx must never route to a cache that does not exist.
 */
export function nginxView(input: {
  config: RegcacheConfig;
  backends: ReadonlyMap<string, string>;
  paths: NginxPaths;
  generation: number;
}): NginxView {
  const routes = input.config.registries
    .filter((r) => input.backends.has(r.name))
    .map((r) => ({ name: r.name, upstreamId: upstreamId(r.name), address: input.backends.get(r.name)! }));
  const routed = new Set(routes.map((r) => r.name));
  const hosts = input.config.registries
    .filter((r) => routed.has(r.name))
    .flatMap((r) => r.hosts.map((host) => ({ host, upstreamId: upstreamId(r.name) })));
  return {
    generation: input.generation,
    user: input.config.nginx.user,
    workerProcesses: input.config.nginx.workerProcesses,
    listen: formatListen(input.config.listen),
    paths: input.paths,
    routes,
    hosts,
  };
}
