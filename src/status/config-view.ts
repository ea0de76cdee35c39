import { formatListen } from '../config/address.js';
import type { RegcacheConfig } from '../config/model.js';

/** The applied config as the API shows it: credentials reduced to whether they are set. */
export function redactedConfig(config: RegcacheConfig) {
  return {
    source: config.source,
    domain: config.domain,
    listen: formatListen(config.listen),
    admin: { listen: formatListen(config.admin.listen) },
    runtime: config.runtime,
    dataDir: config.dataDir,
    registries: config.registries.map((r) => ({
      name: r.name,
      upstream: r.upstream,
      hosts: r.hosts,
      credentials: r.credentials ? { username: r.credentials.username, password: '[redacted]' } : null,
    })),
  };
}
