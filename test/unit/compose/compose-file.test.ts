// The pieces of compose/ and the Dockerfile agree with each other: the configs they mount parse, and
// mounts, ports and secrets meet where the config expects them. (test/integration/container runs them.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/parse.js';

const root = path.resolve(import.meta.dirname, '../../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const dockerfile = read('Dockerfile');

/** A compose `environment:` block as compose fills it in with nothing set: `${VAR:-default}` → default. */
function composeDefaults(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]));
}

function parseShipped(file: string, env: Record<string, string>, files: Record<string, string> = {}) {
  const result = parseConfig(read(file), {
    source: '/etc/regcache/registries.yaml',
    env,
    readFile: (p) => (p in files ? { ok: true, text: files[p]! } : { ok: false, message: 'no such file' }),
  });
  if (!result.ok) throw new Error(`${file}: ${JSON.stringify(result.problems)}`);
  return result.value;
}

/** Every `${VAR…}` in a parsed YAML document's keys and string values (comments are not read). */
function interpolated(doc: unknown, into = new Set<string>()): Set<string> {
  if (typeof doc === 'string') for (const m of doc.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) into.add(m[1]!);
  else if (Array.isArray(doc)) for (const v of doc) interpolated(v, into);
  else if (doc && typeof doc === 'object')
    for (const [k, v] of Object.entries(doc)) {
      interpolated(k, into);
      interpolated(v, into);
    }
  return into;
}

/** Every string in a parsed YAML document. */
function strings(doc: unknown): string[] {
  if (typeof doc === 'string') return [doc];
  if (Array.isArray(doc)) return doc.flatMap(strings);
  if (doc && typeof doc === 'object') return Object.entries(doc).flatMap(([k, v]) => [k, ...strings(v)]);
  return [];
}

// The compose files are written to the part of the compose file format that docker-compose 1.29 (run
// here by the container tests) and Compose v2 (not installed here) both accept. These lists are that
// subset, by hand from the compose-spec and 1.29's config schema; a key outside them needs checking
// against both before it goes in.
const COMMON_TOP_LEVEL = ['version', 'services', 'networks', 'volumes', 'secrets', 'configs'];
const COMMON_SERVICE = [
  'build',
  'image',
  'container_name',
  'restart',
  'user',
  'environment',
  'ports',
  'volumes',
  'healthcheck',
  'entrypoint',
  'command',
  'depends_on',
  'networks',
  'labels',
  'secrets',
  'configs',
  'deploy',
  'init',
  'stop_grace_period',
  'stop_signal',
  'logging',
  'working_dir',
  'extra_hosts',
  'env_file',
];
const COMMON_SUB: Record<string, string[]> = {
  build: ['context', 'dockerfile', 'args', 'target', 'labels'],
  healthcheck: ['test', 'interval', 'timeout', 'retries', 'start_period', 'disable'],
  network: ['name', 'driver', 'external', 'driver_opts', 'labels'],
  volume: ['name', 'driver', 'external', 'driver_opts', 'labels'],
};
const unknownKeys = (obj: object | undefined, allowed: string[]) => Object.keys(obj ?? {}).filter((k) => !allowed.includes(k));

for (const file of ['compose/docker-compose.yml', 'compose/docker-runtime.yml']) {
  describe(`${file}: only what docker-compose 1.29 and Compose v2 both accept`, () => {
    const compose = parse(read(file));

    it('uses top-level, service, build, healthcheck, network and volume keys of the common subset', () => {
      expect(unknownKeys(compose, COMMON_TOP_LEVEL)).toEqual([]);
      for (const [name, service] of Object.entries<Record<string, unknown>>(compose.services)) {
        expect(unknownKeys(service, COMMON_SERVICE), name).toEqual([]);
        if (typeof service.build === 'object') expect(unknownKeys(service.build as object, COMMON_SUB.build!), name).toEqual([]);
        expect(unknownKeys(service.healthcheck as object, COMMON_SUB.healthcheck!), name).toEqual([]);
        // The short forms: 1.29 knows neither depends_on conditions in this format nor env_file's path/required.
        if (service.depends_on !== undefined) expect(Array.isArray(service.depends_on), name).toBe(true);
        if (service.env_file !== undefined) expect(strings(service.env_file)).toEqual([service.env_file].flat());
      }
      for (const network of Object.values<object | null>(compose.networks ?? {})) expect(unknownKeys(network ?? {}, COMMON_SUB.network!)).toEqual([]);
      for (const volume of Object.values<object | null>(compose.volumes ?? {})) expect(unknownKeys(volume ?? {}, COMMON_SUB.volume!)).toEqual([]);
    });

    it('interpolates with ${VAR}, ${VAR:-default} and ${VAR:?message} only, never nested (v2 only)', () => {
      for (const value of strings(compose)) {
        expect(value, value).not.toMatch(/\$\{[^}]*\$\{/);
        for (const m of value.matchAll(/\$\{([^}]*)\}/g)) expect(m[1], value).toMatch(/^[A-Za-z_][A-Za-z0-9_]*(:?[-?][^$]*)?$/);
      }
    });
  });
}

describe('.env.example', () => {
  const keys = [...read('.env.example').matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!).sort();
  const shipped = [
    { compose: 'compose/docker-compose.yml', config: 'compose/config/registries.yaml' },
    { compose: 'compose/docker-runtime.yml', config: 'compose/docker-runtime/registries.yaml' },
  ];

  it('lists exactly the variables the compose files read: none unused, none missing', () => {
    const used = new Set<string>();
    for (const { compose } of shipped) interpolated(parse(read(compose)), used);
    expect(keys).toEqual([...used].sort());
  });

  it("reaches the configs: every ${VAR} a mounted config reads is in its regcache service's environment", () => {
    for (const { compose, config } of shipped) {
      const environment = Object.keys(parse(read(compose)).services.regcache.environment);
      expect(
        [...interpolated(parse(read(config)))].filter((v) => !environment.includes(v)),
        config,
      ).toEqual([]);
    }
  });
});

describe('the image', () => {
  it('keeps its data where the configs put dataDir, and runs the daemon unprivileged under an init', () => {
    expect(dockerfile).toContain('VOLUME ["/var/lib/regcache"]');
    expect(dockerfile).toMatch(/^USER regcache$/m);
    expect(dockerfile).toContain('ENTRYPOINT ["tini", "--", "regcache"]');
    expect(dockerfile).toMatch(/^HEALTHCHECK [^]*?\/readyz/m);
    expect(dockerfile).toContain('COPY compose/config/registries.yaml /etc/regcache/registries.yaml');
  });
});

describe('compose/docker-compose.yml', () => {
  const compose = parse(read('compose/docker-compose.yml'));
  const service = compose.services.regcache;
  const config = parseShipped('compose/config/registries.yaml', composeDefaults(service.environment));

  it('builds the repository Dockerfile and needs nothing newer than docker-compose 1.29 accepts', () => {
    expect(service.build).toEqual({ context: '..', dockerfile: 'Dockerfile' });
    expect(compose.name).toBeUndefined(); // top-level `name` is Compose v2 only
    expect(service.env_file).toBeUndefined(); // a missing env_file is an error in 1.29
  });

  it('mounts the config directory and the data volume where the config expects them', () => {
    expect(service.volumes).toContain('${REGCACHE_CONFIG_DIR:-./config}:/etc/regcache:ro');
    expect(service.volumes).toContain(`data:${config.dataDir}`);
    expect(config.runtime).toBe('process');
  });

  it('publishes the router port and the admin API on loopback only', () => {
    expect(String(config.listen.port)).toBe('5000');
    expect(service.ports).toContain('${REGCACHE_PORT:-5000}:5000');
    expect(config.admin.listen.host).toBe('0.0.0.0');
    expect(service.ports).toContain(`127.0.0.1:\${REGCACHE_ADMIN_PORT:-8080}:${config.admin.listen.port}`);
  });
});

describe('compose/stack.yml', () => {
  const stack = parse(read('compose/stack.yml'));
  const service = stack.services.regcache;
  const secretTarget = `/run/secrets/${service.secrets[0].target}`;
  const config = parseShipped(
    'compose/stack/registries.yaml',
    { ...composeDefaults(service.environment), DOCKERHUB_USERNAME: 'me' },
    { [secretTarget]: 'token\n' },
  );

  it('is a versioned stack file (docker stack deploy needs one) with a global service on host-mode ports', () => {
    expect(stack.version).toMatch(/^3\.\d+$/);
    expect(service.deploy.mode).toBe('global');
    expect(service.ports).toEqual([expect.objectContaining({ target: Number(config.listen.port), mode: 'host' })]);
  });

  it('gives the docker.io password from a Docker secret to passwordFile', () => {
    const dockerIo = config.registries.find((r) => r.name === 'docker.io')!;
    expect(dockerIo.credentials).toEqual({ username: 'me', password: 'token' });
    expect(stack.secrets[service.secrets[0].source].external).toBe(true);
  });

  it('keeps the cache in a named volume at dataDir and the config where the image reads it', () => {
    expect(service.volumes).toContain(`data:${config.dataDir}`);
    expect(service.configs[0].target).toBe('/etc/regcache/registries.yaml');
    expect(Object.keys(stack.volumes)).toContain('data');
  });
});

describe('compose/cluster-stack.yml', () => {
  const stack = parse(read('compose/cluster-stack.yml'));
  const service = stack.services.regcache;
  const raw = parse(read('compose/cluster/registries.yaml'));
  const secretTarget = `/run/secrets/${service.secrets[0].target}`;

  it('parses with the secret where the config reads it', () => {
    expect(raw.cluster.secretFile).toBe(secretTarget);
    const config = parseShipped('compose/cluster/registries.yaml', composeDefaults(service.environment), { [secretTarget]: 'a'.repeat(64) + '\n' });
    expect(config.dataDir).toBe('/var/lib/regcache');
    expect(config.cluster?.secret).toBe('a'.repeat(64));
    expect(config.cluster?.peers).toEqual({ kind: 'dns', name: 'tasks.regcache', port: 5001 });
    expect(stack.secrets[service.secrets[0].source].external).toBe(true);
  });

  it('finds peers by the service name on the overlay network, whose peer port is not published', () => {
    const [, name, port] = /^dns:tasks\.([a-z0-9-]+):(\d+)$/.exec(raw.cluster.peers)!;
    expect(Object.keys(stack.services)).toContain(name);
    expect(raw.cluster.listen).toBe(`0.0.0.0:${port}`);
    expect(service.networks).toEqual(['peers']);
    expect(stack.networks.peers.driver).toBe('overlay');
    // Per-task DNS records: a virtual IP would hide the tasks (and needs IPVS).
    expect(service.deploy.endpoint_mode).toBe('dnsrr');
    expect(service.ports.map((p: { target: number }) => p.target)).toEqual([5000]);
    expect(service.ports[0].mode).toBe('host');
  });

  it('runs one task per node with its own volume, and updates one node at a time', () => {
    expect(stack.version).toMatch(/^3\.\d+$/);
    expect(service.deploy.mode).toBe('global');
    expect(service.volumes).toContain('data:/var/lib/regcache');
    expect(service.configs[0].target).toBe('/etc/regcache/registries.yaml');
    expect(service.deploy.update_config.parallelism).toBe(1);
  });

  it("turns the image's health check off: Swarm would keep an unhealthy task out of tasks.regcache, where it finds itself", () => {
    expect(service.healthcheck).toEqual({ disable: true });
  });
});

describe('compose/docker-runtime.yml', () => {
  const compose = parse(read('compose/docker-runtime.yml'));
  const { nginx, regcache } = compose.services;
  const config = parseShipped('compose/docker-runtime/registries.yaml', composeDefaults(regcache.environment));

  it('drives cache containers through the Docker socket on the project network', () => {
    expect(config.runtime).toBe('docker');
    expect(regcache.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(regcache.user).toBe('root');
    expect(config.docker.network).toBe('registry-cache');
    expect(compose.networks.default.name).toBe('${REGCACHE_DOCKER_NETWORK:-registry-cache}');
  });

  it('runs nginx from the same image on the config regcache writes into the volume both mount', () => {
    expect(nginx.image).toBe(regcache.image);
    expect(config.nginx.container).toBe('regcache-nginx');
    expect(nginx.container_name).toBe('${REGCACHE_NGINX_CONTAINER:-regcache-nginx}');
    const nginxDir = path.join(config.dataDir, 'nginx');
    const command = nginx.command.join(' ');
    expect(command).toContain(`-c ${nginxDir}/nginx.conf`);
    expect(command).toContain(`-p ${nginxDir}/`);
    expect(nginx.volumes).toContain(`data:${config.dataDir}`);
    expect(regcache.volumes).toContain(`data:${config.dataDir}`);
    expect(String(config.listen.port)).toBe('5000');
    expect(nginx.ports[0]).toMatch(/:5000$/);
  });
});
