import type { RegcacheConfig } from './model.js';

/**
 * Where regcache itself reaches the router nginx (readiness probe, warm): loopback when it listens on
 * every address, the container's name when nginx runs in a container on a Docker network.
 */
export function routerHost(config: RegcacheConfig): string {
  if (config.nginx.container && config.docker.network !== 'host') return config.nginx.container;
  // With tls.httpDisabled the http listener is loopback-only.
  return config.listen.host === '0.0.0.0' || config.listen.host === '::' || config.tls?.httpDisabled ? '127.0.0.1' : config.listen.host;
}

export function routerBaseUrl(config: RegcacheConfig): string {
  const host = routerHost(config);
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.listen.port}`;
}
