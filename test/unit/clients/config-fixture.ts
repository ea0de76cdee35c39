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

export { configFrom } from '../../helpers/config.js';

export function optionsFor(config: RegcacheConfig, input: ClientRequestInput = {}): ClientOptions {
  const result = parseClientOptions(config, input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}
