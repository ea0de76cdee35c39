import { formatListen } from '../config/address.js';
import type { RegcacheConfig } from '../config/model.js';
import type { AccessRules } from '../config/sections/access.js';

/** Access rules as the API shows them: file paths and networks, never file contents. */
function accessView(rules: Partial<AccessRules>) {
  return {
    ...(rules.htpasswd !== undefined ? { htpasswd: rules.htpasswd ? { path: rules.htpasswd.path, users: rules.htpasswd.users } : null } : {}),
    ...(rules.realm !== undefined ? { realm: rules.realm } : {}),
    ...(rules.allow !== undefined ? { allow: rules.allow } : {}),
    ...(rules.authRequest !== undefined ? { authRequest: rules.authRequest } : {}),
  };
}

/** The applied config as the API shows it: credentials reduced to whether they are set. */
export function redactedConfig(config: RegcacheConfig) {
  return {
    source: config.source,
    domain: config.domain,
    hostStyle: config.hostStyle,
    warnings: config.warnings,
    listen: formatListen(config.listen),
    admin: {
      listen: formatListen(config.admin.listen),
      token: config.admin.token ? '[set]' : null,
      metricsPublic: config.admin.metricsPublic,
      hosts: config.admin.hosts,
    },
    tls: config.tls
      ? {
          listen: formatListen(config.tls.listen),
          cert: config.tls.cert,
          key: config.tls.key,
          clientCA: config.tls.clientCA,
          httpDisabled: config.tls.httpDisabled,
        }
      : null,
    access: accessView(config.access),
    cluster: config.cluster
      ? {
          listen: formatListen(config.cluster.listen),
          peers: config.cluster.peers.kind === 'static' ? config.cluster.peers.addresses : `dns:${config.cluster.peers.name}:${config.cluster.peers.port}`,
          self: config.cluster.self,
          secret: '[set]',
        }
      : null,
    runtime: config.runtime,
    dataDir: config.dataDir,
    registries: config.registries.map((r) => ({
      name: r.name,
      mirrorOf: r.mirrorOf,
      mirrorOrder: r.mirrorOrder,
      upstream: r.upstream,
      hosts: r.hosts,
      credentials: r.credentials ? { username: r.credentials.username, password: '[redacted]' } : null,
      tls: r.tls ? { cert: r.tls.cert, key: r.tls.key } : null,
      access: r.access ? accessView(r.access) : null,
    })),
  };
}
