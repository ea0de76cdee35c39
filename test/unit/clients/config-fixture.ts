import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RegcacheConfig } from '../../../src/config/model.js';
import { parseConfig } from '../../../src/config/parse.js';
import { parseClientOptions, type ClientRequestInput } from '../../../src/clients/client-request.js';
import type { ClientOptions } from '../../../src/clients/endpoint.js';

export { MIRRORS, TWO_REGISTRIES } from '../../helpers/config-fixtures.js';
export { configFrom } from '../../helpers/config.js';

export function optionsFor(config: RegcacheConfig, input: ClientRequestInput = {}): ClientOptions {
  const result = parseClientOptions(config, input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}

/** A self-signed certificate for `*.registry.example.com` and `registry.example.com`. */
const WILDCARD = readFileSync(
  path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'config', 'fixtures', 'wildcard-registry-example-com.pem'),
  'utf8',
);
const TLS_FILES: Record<string, string> = {
  '/etc/regcache/tls/cert.pem': WILDCARD,
  '/etc/regcache/tls/key.pem': '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n',
};

/** The config text with `tls:` (cert and key under /etc/regcache/tls, served on `listen`) appended. */
export function configWithTls(text: string, listen = '5443'): RegcacheConfig {
  const result = parseConfig(`${text}\ntls: {listen: "${listen}", cert: tls/cert.pem, key: tls/key.pem}\n`, {
    source: '/etc/regcache/registries.yaml',
    env: {},
    readFile: (p) => (p in TLS_FILES ? { ok: true, text: TLS_FILES[p]! } : { ok: false, message: 'file not found' }),
  });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}
