import type { RegcacheConfig } from '../config/model.js';
import { accessWarnings } from './access-warnings.js';
import { containerdHostsFiles } from './containerd-hosts.js';
import { dockerDaemonFragment, dockerDaemonJson } from './docker-daemon.js';
import { clientEndpoints, endpointWarnings, type ClientOptions } from './endpoint.js';
import type { ClientKind, GeneratedClientConfig } from './generated.js';
import { k3sRegistriesYaml } from './k3s-registries.js';
import { registriesConf, registriesConfWarnings } from './registries-conf.js';

/** Config and options in, the files one kind of client needs out. Pure. */
export function generateClientConfig(client: ClientKind, config: RegcacheConfig, options: ClientOptions): GeneratedClientConfig {
  const warnings = [...endpointWarnings(config, options), ...accessWarnings(config, clientEndpoints(config, options))];
  switch (client) {
    case 'containerd':
      return { client, files: containerdHostsFiles(clientEndpoints(config, options), options.tls), warnings };
    case 'k3s':
      return { client, files: [{ path: 'registries.yaml', content: k3sRegistriesYaml(clientEndpoints(config, options), options.tls) }], warnings };
    case 'docker': {
      const docker = dockerDaemonFragment(config, options);
      return { client, files: [{ path: 'daemon.json', content: dockerDaemonJson(docker.fragment) }], warnings: [...warnings, ...docker.warnings] };
    }
    case 'podman': {
      const endpoints = clientEndpoints(config, options);
      return {
        client,
        files: [{ path: 'regcache.conf', content: registriesConf(endpoints, options.tls) }],
        warnings: [...warnings, ...registriesConfWarnings(endpoints, options.tls)],
      };
    }
  }
}
