import type { RegcacheConfig } from '../config/model.js';
import { clientEndpoints, vhostEndpoint, type ClientEndpoint, type ClientOptions } from './endpoint.js';

export interface DockerDaemonFragment {
  'registry-mirrors'?: string[];
  'insecure-registries'?: string[];
}

export interface DockerDaemonResult {
  fragment: DockerDaemonFragment;
  warnings: string[];
}

const DOCKER_HUB = 'docker.io';

/**
 * dockerd's `registry-mirrors` applies to docker.io only, and dockerd sends no `ns` parameter, so
 * the mirror must be a host nginx routes to the docker.io cache: its vhost, or the single endpoint
 * when that host is one of docker.io's aliases.
 */
function dockerHubMirror(config: RegcacheConfig, options: ClientOptions, warnings: string[]): ClientEndpoint {
  if (options.mode === 'vhost') return vhostEndpoint(config, DOCKER_HUB, options.base);
  const single = clientEndpoints(config, options).find((e) => e.registry === DOCKER_HUB)!;
  if (single.byHost) return single;
  const vhost = vhostEndpoint(config, DOCKER_HUB, { ...options.base, host: config.domain });
  warnings.push(
    `dockerd sends no ns parameter, so ${single.hostPort} cannot tell docker.io apart; the mirror is docker.io's vhost ${vhost.hostPort} instead (or add ${options.base.host} to docker.io's aliases)`,
  );
  return vhost;
}

/** The `daemon.json` keys to merge into /etc/docker/daemon.json. */
export function dockerDaemonFragment(config: RegcacheConfig, options: ClientOptions): DockerDaemonResult {
  const warnings: string[] = [];
  if (!config.registries.some((r) => r.name === DOCKER_HUB)) {
    warnings.push('no docker.io registry in the config: dockerd mirrors docker.io only, so there is nothing to configure; use containerd hosts files for other registries');
    return { fragment: {}, warnings };
  }
  const mirror = dockerHubMirror(config, options, warnings);
  const fragment: DockerDaemonFragment = { 'registry-mirrors': [mirror.url] };
  // Plain http needs it; so does an https mirror whose certificate is not to be verified.
  if (mirror.scheme === 'http' || options.tls.skipVerify) fragment['insecure-registries'] = [mirror.hostPort];
  if (mirror.scheme === 'https' && options.tls.caFile !== null) {
    warnings.push(`dockerd takes no CA in daemon.json: copy ${options.tls.caFile} to /etc/docker/certs.d/${mirror.hostPort}/ca.crt`);
  }
  const others = config.registries.filter((r) => r.name !== DOCKER_HUB).map((r) => r.name);
  if (others.length > 0) warnings.push(`dockerd mirrors docker.io only; not mirrored for docker: ${others.join(', ')} (use regcache clients containerd)`);
  return { fragment, warnings };
}

export function dockerDaemonJson(fragment: DockerDaemonFragment): string {
  return JSON.stringify(fragment, null, 2) + '\n';
}
