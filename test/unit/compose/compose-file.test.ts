// compose/ cannot be started here (no image pulls), so its pieces are checked for agreeing with each other.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/parse.js';

const root = path.resolve(import.meta.dirname, '../../..');
const compose = parse(readFileSync(path.join(root, 'compose/docker-compose.yml'), 'utf8'));
const configPath = path.join(root, 'compose/config/registries.yaml');
const parsed = parseConfig(readFileSync(configPath, 'utf8'), { source: '/etc/regcache/registries.yaml', env: {} });

describe('compose deployment', () => {
  it('ships a valid regcache config for the docker runtime with a containerised nginx', () => {
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.runtime).toBe('docker');
    expect(parsed.value.nginx.container).toBe(compose.services.nginx.container_name);
    expect(parsed.value.docker.network).toBe('registry-cache');
    expect(Object.values(compose.networks).map((n) => (n as { name: string }).name)).toContain('registry-cache');
  });

  it('runs nginx on the config regcache writes, in a volume both containers mount at the same path', () => {
    if (!parsed.ok) throw new Error('invalid');
    const nginxDir = path.join(parsed.value.dataDir, 'nginx');
    const command = compose.services.nginx.command.join(' ');
    expect(command).toContain(`-c ${nginxDir}/nginx.conf`);
    expect(command).toContain(`-p ${nginxDir}/`);
    const mountsOf = (service: string) => compose.services[service].volumes as string[];
    const nginxMount = mountsOf('nginx').find((v) => v.endsWith(`:${nginxDir}`));
    expect(nginxMount).toBeDefined();
    expect(mountsOf('regcache')).toContain(nginxMount);
    expect(compose.services.nginx.ports[0]).toMatch(/:5000$/);
    expect(String(parsed.value.listen.port)).toBe('5000');
  });

  it('gives regcache the Docker socket and its config directory', () => {
    const volumes = compose.services.regcache.volumes as string[];
    expect(volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(volumes.some((v) => v.endsWith(':/etc/regcache:ro'))).toBe(true);
    expect(compose.services.regcache.environment.REGCACHE_CONFIG).toBe('/etc/regcache/registries.yaml');
    expect(compose.services.regcache.build).toEqual({ context: '..', dockerfile: 'compose/Dockerfile' });
  });
});
