import type { RegcacheConfig } from '../config/model.js';
import { effectiveAccess } from '../config/sections/access.js';
import type { ClientEndpoint } from './endpoint.js';

/**
 * Mirrors that ask clients for a password (access.htpasswd) or an authenticator's approval. regcache
 * never knows the plain password (htpasswd holds bcrypt hashes), so the generated files carry none;
 * the warning says where each client takes it.
 */
export function accessWarnings(config: RegcacheConfig, endpoints: ClientEndpoint[]): string[] {
  const warnings: string[] = [];
  for (const endpoint of endpoints) {
    const registry = config.registries.find((r) => r.name === endpoint.registry);
    if (!registry) continue;
    const rules = effectiveAccess(config.access, registry.access);
    if (rules.htpasswd) {
      warnings.push(
        `${endpoint.registry}: the mirror asks for a password (access.htpasswd). k3s: add configs."${endpoint.hostPort}".auth.username/password; ` +
          `docker: docker login ${endpoint.hostPort}; ctr: --user USER:PASSWORD`,
      );
    }
    if (rules.authRequest) warnings.push(`${endpoint.registry}: requests are checked by ${rules.authRequest}; clients must send what it expects`);
    if (rules.allow) warnings.push(`${endpoint.registry}: only clients from ${rules.allow.join(', ') || 'nowhere'} may pull`);
  }
  return warnings;
}
