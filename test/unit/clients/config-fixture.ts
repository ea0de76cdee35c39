import { parseConfig } from '../../../src/config/parse.js';
import type { RegcacheConfig } from '../../../src/config/model.js';
import { parseClientOptions, type ClientRequestInput } from '../../../src/clients/client-request.js';
import type { ClientOptions } from '../../../src/clients/endpoint.js';

export const TWO_REGISTRIES = `
domain: registry.example.com
listen: "5000"
registries:
  docker.io:
    upstream: https://registry-1.docker.io
    aliases: [hub.example.com]
  ghcr.io:
    upstream: https://ghcr.io
`;

export function configFrom(text: string): RegcacheConfig {
  const result = parseConfig(text, { source: '/etc/regcache/registries.yaml', env: {} });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}

export function optionsFor(config: RegcacheConfig, input: ClientRequestInput = {}): ClientOptions {
  const result = parseClientOptions(config, input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}
