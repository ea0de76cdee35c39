import type { RegcacheConfig } from '../../../src/config/model.js';
import { parseClientOptions, type ClientRequestInput } from '../../../src/clients/client-request.js';
import type { ClientOptions } from '../../../src/clients/endpoint.js';

export { MIRRORS, TWO_REGISTRIES } from '../../helpers/config-fixtures.js';
export { configFrom } from '../../helpers/config.js';

export function optionsFor(config: RegcacheConfig, input: ClientRequestInput = {}): ClientOptions {
  const result = parseClientOptions(config, input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}
