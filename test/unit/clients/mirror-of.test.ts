import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseClientOptions } from '../../../src/clients/client-request.js';
import { generateClientConfig } from '../../../src/clients/generate.js';
import { k3dCommand } from '../../../src/clients/k3d-command.js';
import { configFrom, configWithTls, MIRRORS, optionsFor } from './config-fixture.js';

const config = configFrom(MIRRORS);

describe('mirrorOf in every generator', () => {
  it('containerd: one hosts.toml per registry host, its caches in mirror order', () => {
    const generated = generateClientConfig('containerd', config, optionsFor(config));
    expect(generated.files.map((f) => f.path)).toEqual(['docker.io/hosts.toml', 'registry.k8s.io/hosts.toml']);
    const hub = parseToml(generated.files[0]!.content);
    expect(hub.server).toBe('https://registry-1.docker.io');
    expect(Object.keys(hub.host as object)).toEqual(['http://hub.registry.example.com:5000', 'http://docker.io.registry.example.com:5000']);
    expect(parseToml(generated.files[1]!.content)).toEqual({
      server: 'https://registry.k8s.io',
      host: { 'http://k8s.registry.example.com:5000': { capabilities: ['pull', 'resolve'] } },
    });
  });

  it('containerd single mode: ?ns=<registry host> reaches the first cache only, and the others are named in a warning', () => {
    const generated = generateClientConfig('containerd', config, optionsFor(config, { mode: 'single', endpoint: 'http://cache:5000' }));
    expect(generated.files.map((f) => [f.path, Object.keys(parseToml(f.content).host as object)])).toEqual([
      ['docker.io/hosts.toml', ['http://cache:5000']],
      ['registry.k8s.io/hosts.toml', ['http://cache:5000']],
    ]);
    expect(generated.warnings).toContain(
      'docker.io: ?ns=docker.io goes to the first cache of docker.io (lowest mirrorOrder); docker.io is reachable in vhost mode only',
    );
  });

  it('k3s: mirrors keyed by registry host', () => {
    const generated = generateClientConfig('k3s', config, optionsFor(config));
    expect(parseYaml(generated.files[0]!.content)).toEqual({
      mirrors: {
        'docker.io': { endpoint: ['http://hub.registry.example.com:5000', 'http://docker.io.registry.example.com:5000'] },
        'registry.k8s.io': { endpoint: ['http://k8s.registry.example.com:5000'] },
      },
    });
  });

  it('docker: every docker.io cache is a registry mirror, in order; no warning about a missing docker.io', () => {
    const generated = generateClientConfig('docker', config, optionsFor(config));
    expect(JSON.parse(generated.files[0]!.content)).toEqual({
      'registry-mirrors': ['http://hub.registry.example.com:5000', 'http://docker.io.registry.example.com:5000'],
      'insecure-registries': ['hub.registry.example.com:5000', 'docker.io.registry.example.com:5000'],
    });
    expect(generated.warnings).toEqual(['dockerd mirrors docker.io only; not mirrored for docker: k8s (use regcache clients containerd)']);
  });

  it('k3d host aliases name the vhosts (dashed with hostStyle dashed)', () => {
    const dashed = configFrom(MIRRORS.replace('listen: "5000"', 'listen: "5000"\nhostStyle: dashed'));
    const options = optionsFor(dashed);
    const command = k3dCommand(dashed, {
      cluster: 'c',
      registryConfig: 'r.yaml',
      network: null,
      hostIp: '10.0.0.2',
      mode: 'vhost',
      endpointHost: options.base.host,
    });
    expect(command).toBe(
      'k3d cluster create c --registry-config r.yaml --host-alias 10.0.0.2:docker-io.registry.example.com,hub.registry.example.com,k8s.registry.example.com',
    );
  });
});

describe('podman / buildah / skopeo / CRI-O registries.conf', () => {
  it('one [[registry]] per registry host: prefix, the upstream as location, the caches as mirrors', () => {
    const generated = generateClientConfig('podman', config, optionsFor(config));
    expect(generated.files.map((f) => f.path)).toEqual(['regcache.conf']);
    expect(generated.warnings).toEqual([]);
    expect(parseToml(generated.files[0]!.content)).toEqual({
      registry: [
        {
          prefix: 'docker.io',
          location: 'registry-1.docker.io',
          mirror: [
            { location: 'hub.registry.example.com:5000', insecure: true },
            { location: 'docker.io.registry.example.com:5000', insecure: true },
          ],
        },
        { prefix: 'registry.k8s.io', location: 'registry.k8s.io', mirror: [{ location: 'k8s.registry.example.com:5000', insecure: true }] },
      ],
    });
  });

  it('https: verified mirrors (no insecure), a CA goes to certs.d (warned); skip-verify sets insecure; an http upstream is insecure', () => {
    const httpUpstream = configFrom(
      'domain: r.example.com\nregistries:\n  local:\n    upstream: http://10.0.0.5:5000\n    mirrorOf: registry.local\n',
    );
    const verified = generateClientConfig(
      'podman',
      httpUpstream,
      optionsFor(httpUpstream, { endpoint: 'https://r.example.com', caFile: '/etc/regcache/ca.pem' }),
    );
    expect(parseToml(verified.files[0]!.content)).toEqual({
      registry: [{ prefix: 'registry.local', location: '10.0.0.5:5000', insecure: true, mirror: [{ location: 'local.r.example.com' }] }],
    });
    expect(verified.warnings).toEqual([
      'registries.conf takes no CA: copy /etc/regcache/ca.pem to /etc/containers/certs.d/local.r.example.com/ca.crt (podman, buildah, skopeo, CRI-O)',
    ]);
    const skip = generateClientConfig(
      'podman',
      httpUpstream,
      optionsFor(httpUpstream, { endpoint: 'https://r.example.com:8443', skipVerify: 'true' }),
    );
    expect((parseToml(skip.files[0]!.content).registry as Array<{ mirror: unknown }>)[0]!.mirror).toEqual([
      { location: 'local.r.example.com:8443', insecure: true },
    ]);
  });

  it('a config with tls: https mirrors on the TLS port, verified (no insecure), without --endpoint', () => {
    const tls = configWithTls(MIRRORS, '5443');
    const generated = generateClientConfig('podman', tls, optionsFor(tls));
    expect(generated.warnings).toEqual([]);
    expect(parseToml(generated.files[0]!.content)).toEqual({
      registry: [
        {
          prefix: 'docker.io',
          location: 'registry-1.docker.io',
          mirror: [{ location: 'hub.registry.example.com:5443' }, { location: 'docker.io.registry.example.com:5443' }],
        },
        { prefix: 'registry.k8s.io', location: 'registry.k8s.io', mirror: [{ location: 'k8s.registry.example.com:5443' }] },
      ],
    });
    const containerd = generateClientConfig('containerd', tls, optionsFor(tls));
    expect(Object.keys(parseToml(containerd.files[0]!.content).host as object)).toEqual([
      'https://hub.registry.example.com:5443',
      'https://docker.io.registry.example.com:5443',
    ]);
    const docker = generateClientConfig('docker', tls, optionsFor(tls));
    expect(JSON.parse(docker.files[0]!.content)).toEqual({
      'registry-mirrors': ['https://hub.registry.example.com:5443', 'https://docker.io.registry.example.com:5443'],
    });
  });

  it('single mode is refused: these clients send no ns parameter', () => {
    expect(parseClientOptions(config, { mode: 'single' }, 'podman')).toEqual({
      ok: false,
      problems: [{ param: 'mode', message: 'podman, buildah, skopeo and CRI-O send no ns parameter, so they need vhost mode' }],
    });
  });
});
