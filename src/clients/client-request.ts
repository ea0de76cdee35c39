import type { RegcacheConfig } from '../config/model.js';
import { endpointBaseFromConfig, parseEndpointBase, type ClientMode, type ClientOptions } from './endpoint.js';
import type { K3dCommandOptions } from './k3d-command.js';

/** Parameters as the CLI flags and the API query carry them (API names; the CLI maps `--ca-file` to `caFile`). */
export interface ClientRequestInput {
  mode?: string;
  endpoint?: string;
  caFile?: string;
  skipVerify?: string | boolean;
  cluster?: string;
  network?: string;
  registryConfig?: string;
  hostIp?: string;
}

export interface ParamProblem {
  param: keyof ClientRequestInput;
  message: string;
}

export type ParamResult<T> = { ok: true; value: T } | { ok: false; problems: ParamProblem[] };

const MODES: readonly ClientMode[] = ['vhost', 'single'];
const SAFE_PATH = /^[^\s"'`;{}$\\]+$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function parseBoolean(value: string | boolean | undefined): boolean | null {
  if (value === undefined || value === true) return value === true;
  if (value === false) return false;
  const text = value.toLowerCase();
  if (text === 'true' || text === '1' || text === '') return true;
  if (text === 'false' || text === '0') return false;
  return null;
}

/** Mode, endpoint and TLS options for the generators, or one problem per bad parameter. */
export function parseClientOptions(config: RegcacheConfig, input: ClientRequestInput, client?: string): ParamResult<ClientOptions> {
  const problems: ParamProblem[] = [];
  const mode = (input.mode ?? 'vhost') as ClientMode;
  if (!MODES.includes(mode)) problems.push({ param: 'mode', message: `must be vhost or single (got "${input.mode}")` });
  else if (mode === 'single' && client === 'podman') {
    problems.push({ param: 'mode', message: 'podman, buildah, skopeo and CRI-O send no ns parameter, so they need vhost mode' });
  }

  let base = endpointBaseFromConfig(config);
  if (input.endpoint !== undefined) {
    const parsed = parseEndpointBase(input.endpoint);
    if (typeof parsed === 'string') problems.push({ param: 'endpoint', message: parsed });
    else base = parsed;
  }

  const caFile = input.caFile ?? null;
  if (caFile !== null && !(caFile.startsWith('/') && SAFE_PATH.test(caFile))) {
    problems.push({ param: 'caFile', message: 'must be an absolute path without whitespace, quotes, semicolons, braces or $' });
  }
  const skipVerify = parseBoolean(input.skipVerify);
  if (skipVerify === null) problems.push({ param: 'skipVerify', message: `must be true or false (got "${String(input.skipVerify)}")` });

  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { mode, base, tls: { caFile, skipVerify: skipVerify === true } } };
}

const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The k3d command options; defaults: cluster `regcache`, `registries.yaml`, no network, no host alias. */
export function parseK3dOptions(config: RegcacheConfig, input: ClientRequestInput, options: ClientOptions): ParamResult<K3dCommandOptions> {
  const problems: ParamProblem[] = [];
  const cluster = input.cluster ?? 'regcache';
  if (!CLUSTER_NAME.test(cluster))
    problems.push({ param: 'cluster', message: 'must be a lower-case DNS label (letters, digits, -) of at most 32 characters' });
  const registryConfig = input.registryConfig ?? 'registries.yaml';
  if (!SAFE_PATH.test(registryConfig))
    problems.push({ param: 'registryConfig', message: 'must be a path without whitespace, quotes, semicolons, braces or $' });
  const network = input.network ?? null;
  if (network !== null && !NETWORK_NAME.test(network)) problems.push({ param: 'network', message: 'must be a Docker network name' });
  const hostIp = input.hostIp ?? null;
  if (hostIp !== null && !IPV4.test(hostIp)) problems.push({ param: 'hostIp', message: `must be an IPv4 address (got "${hostIp}")` });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { cluster, registryConfig, network, hostIp, mode: options.mode, endpointHost: options.base.host } };
}
