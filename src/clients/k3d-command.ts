import type { RegcacheConfig } from '../config/model.js';
import { vhostName, type ClientMode } from './endpoint.js';

export interface K3dCommandOptions {
  cluster: string;
  /** Path of the registries.yaml from `regcache clients k3s`, as the user will pass it. */
  registryConfig: string;
  /** Docker network the nodes join so they reach the router (e.g. `registry-cache`); null for none. */
  network: string | null;
  /** Address of the router as the nodes see it; adds `--host-alias` so vhost names resolve in the nodes. */
  hostIp: string | null;
  mode: ClientMode;
  /** The host clients use in single mode (`registry-cache` of `http://registry-cache:5000`). */
  endpointHost: string;
}

/** Quotes a word for a POSIX shell only when it needs it. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@,+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The `k3d cluster create` line that uses the generated registries.yaml. */
export function k3dCommand(config: RegcacheConfig, options: K3dCommandOptions): string {
  const words = ['k3d', 'cluster', 'create', options.cluster, '--registry-config', options.registryConfig];
  if (options.network !== null) words.push('--network', options.network);
  if (options.hostIp !== null) {
    const names = options.mode === 'vhost' ? config.registries.map((r) => vhostName(config, r.name, options.endpointHost)) : [options.endpointHost];
    words.push('--host-alias', `${options.hostIp}:${names.join(',')}`);
  }
  return words.map(shellWord).join(' ');
}
