import type { RegcacheConfig } from '../config/model.js';
import { clientEndpoints, mirrorSorted, vhostEndpoint, type ClientEndpoint, type ClientOptions } from './endpoint.js';

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
 * each mirror must be a host nginx routes to a docker.io cache: its vhost, or the single endpoint
 * when that host is one of the first docker.io cache's aliases.
 */
function dockerHubMirrors(config: RegcacheConfig, options: ClientOptions, hubCaches: string[], warnings: string[]): ClientEndpoint[] {
  if (options.mode === 'vhost') return hubCaches.map((name) => vhostEndpoint(config, name, options.base));
  const single = clientEndpoints(config, options).find((e) => e.mirrorOf === DOCKER_HUB)!;
  if (single.byHost) return [single];
  const vhost = vhostEndpoint(config, single.registry, { ...options.base, host: config.domain });
  warnings.push(
    `dockerd sends no ns parameter, so ${single.hostPort} cannot tell docker.io apart; the mirror is ${single.registry}'s vhost ${vhost.hostPort} instead (or add ${options.base.host} to ${single.registry}'s aliases)`,
  );
  return [vhost];
}

/** The `daemon.json` keys to merge into /etc/docker/daemon.json. */
export function dockerDaemonFragment(config: RegcacheConfig, options: ClientOptions): DockerDaemonResult {
  const warnings: string[] = [];
  const hubCaches = mirrorSorted(config.registries)
    .filter((r) => r.mirrorOf === DOCKER_HUB)
    .map((r) => r.name);
  if (hubCaches.length === 0) {
    warnings.push(
      'no cache mirrors docker.io (name docker.io or mirrorOf: docker.io): dockerd mirrors docker.io only, so there is nothing to configure; use containerd hosts files for other registries',
    );
    return { fragment: {}, warnings };
  }
  const mirrors = dockerHubMirrors(config, options, hubCaches, warnings);
  const fragment: DockerDaemonFragment = { 'registry-mirrors': mirrors.map((m) => m.url) };
  // Plain http needs it; so does an https mirror whose certificate is not to be verified.
  const insecure = mirrors.filter((m) => m.scheme === 'http' || options.tls.skipVerify).map((m) => m.hostPort);
  if (insecure.length > 0) fragment['insecure-registries'] = insecure;
  for (const mirror of mirrors) {
    if (mirror.scheme === 'https' && options.tls.caFile !== null) {
      warnings.push(`dockerd takes no CA in daemon.json: copy ${options.tls.caFile} to /etc/docker/certs.d/${mirror.hostPort}/ca.crt`);
    }
  }
  const others = config.registries.filter((r) => r.mirrorOf !== DOCKER_HUB).map((r) => r.name);
  if (others.length > 0)
    warnings.push(`dockerd mirrors docker.io only; not mirrored for docker: ${others.join(', ')} (use regcache clients containerd)`);
  return { fragment, warnings };
}

export function dockerDaemonJson(fragment: DockerDaemonFragment): string {
  return JSON.stringify(fragment, null, 2) + '\n';
}
