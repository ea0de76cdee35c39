import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { tomlString } from '../../../src/clients/containerd-hosts.js';
import { generateClientConfig } from '../../../src/clients/generate.js';
import { printable } from '../../../src/clients/generated.js';
import { k3dCommand, shellWord } from '../../../src/clients/k3d-command.js';
import { parseK3dOptions } from '../../../src/clients/client-request.js';
import { configFrom, optionsFor, TWO_REGISTRIES } from './config-fixture.js';

const config = configFrom(TWO_REGISTRIES);

function onlyFile(generated: { files: Array<{ path: string; content: string }> }) {
  expect(generated.files).toHaveLength(1);
  return generated.files[0]!;
}

describe('containerd hosts.toml', () => {
  it('vhost mode: one file per registry, server = upstream, one mirror host with pull+resolve', () => {
    const generated = generateClientConfig('containerd', config, optionsFor(config));
    expect(generated.files.map((f) => f.path)).toEqual(['docker.io/hosts.toml', 'ghcr.io/hosts.toml']);
    expect(generated.warnings).toEqual([]);
    expect(parseToml(generated.files[0]!.content)).toEqual({
      server: 'https://registry-1.docker.io',
      host: { 'http://docker.io.registry.example.com:5000': { capabilities: ['pull', 'resolve'] } },
    });
    expect(parseToml(generated.files[1]!.content)).toEqual({
      server: 'https://ghcr.io',
      host: { 'http://ghcr.io.registry.example.com:5000': { capabilities: ['pull', 'resolve'] } },
    });
  });

  it('single mode: every registry points at the one endpoint (containerd adds ?ns=<registry>)', () => {
    const generated = generateClientConfig('containerd', config, optionsFor(config, { mode: 'single', endpoint: 'http://registry-cache:5000' }));
    const hosts = generated.files.map((f) => parseToml(f.content));
    expect(hosts.map((h) => [h.server, Object.keys(h.host as object)])).toEqual([
      ['https://registry-1.docker.io', ['http://registry-cache:5000']],
      ['https://ghcr.io', ['http://registry-cache:5000']],
    ]);
  });

  it('https: CA and skip_verify on the mirror host only', () => {
    const generated = generateClientConfig(
      'containerd',
      config,
      optionsFor(config, { endpoint: 'https://registry.example.com:5443', caFile: '/etc/regcache/ca.pem', skipVerify: true }),
    );
    expect(parseToml(generated.files[1]!.content)).toEqual({
      server: 'https://ghcr.io',
      host: { 'https://ghcr.io.registry.example.com:5443': { capabilities: ['pull', 'resolve'], ca: '/etc/regcache/ca.pem', skip_verify: true } },
    });
  });

  it('http: TLS settings are left out (containerd 1.7 would try https first)', () => {
    const generated = generateClientConfig('containerd', config, optionsFor(config, { skipVerify: true, caFile: '/ca.pem' }));
    const host = parseToml(generated.files[0]!.content).host as Record<string, Record<string, unknown>>;
    expect(Object.values(host)[0]).toEqual({ capabilities: ['pull', 'resolve'] });
    expect(generated.warnings).toEqual([expect.stringMatching(/https endpoints only/)]);
  });

  it('quotes TOML strings so any value round-trips', () => {
    for (const value of ['plain', 'with "quotes"', 'back\\slash', 'tab\tnew\nline', 'del\u007f']) {
      expect(parseToml(`v = ${tomlString(value)}`).v).toBe(value);
    }
  });

  it('prints several files with a path comment before each, still valid TOML per part', () => {
    const text = printable(generateClientConfig('containerd', config, optionsFor(config)).files);
    expect(text.startsWith('# docker.io/hosts.toml\n')).toBe(true);
    expect(text).toContain('\n# ghcr.io/hosts.toml\n');
  });
});

describe('k3s registries.yaml', () => {
  it('vhost mode: exactly the mirror endpoints, no configs for http', () => {
    const doc = parseYaml(onlyFile(generateClientConfig('k3s', config, optionsFor(config))).content);
    expect(doc).toEqual({
      mirrors: {
        'docker.io': { endpoint: ['http://docker.io.registry.example.com:5000'] },
        'ghcr.io': { endpoint: ['http://ghcr.io.registry.example.com:5000'] },
      },
    });
  });

  it('single mode: one endpoint for every registry', () => {
    const doc = parseYaml(
      onlyFile(generateClientConfig('k3s', config, optionsFor(config, { mode: 'single', endpoint: 'http://registry-cache:5000' }))).content,
    );
    expect(doc).toEqual({
      mirrors: { 'docker.io': { endpoint: ['http://registry-cache:5000'] }, 'ghcr.io': { endpoint: ['http://registry-cache:5000'] } },
    });
  });

  it('https: configs keyed by mirror host:port with keys k3s reads (insecure_skip_verify, ca_file; never tls.insecure)', () => {
    const text = onlyFile(
      generateClientConfig(
        'k3s',
        config,
        optionsFor(config, { endpoint: 'https://registry.example.com:5443', skipVerify: 'true', caFile: '/etc/ca.pem' }),
      ),
    ).content;
    const doc = parseYaml(text);
    expect(doc.configs).toEqual({
      'docker.io.registry.example.com:5443': { tls: { ca_file: '/etc/ca.pem', insecure_skip_verify: true } },
      'ghcr.io.registry.example.com:5443': { tls: { ca_file: '/etc/ca.pem', insecure_skip_verify: true } },
    });
    expect(text).not.toMatch(/insecure:/);
  });

  it('https without TLS options needs no configs', () => {
    const doc = parseYaml(onlyFile(generateClientConfig('k3s', config, optionsFor(config, { endpoint: 'https://registry.example.com' }))).content);
    expect(Object.keys(doc)).toEqual(['mirrors']);
    expect(doc.mirrors['ghcr.io'].endpoint).toEqual(['https://ghcr.io.registry.example.com']);
  });
});

describe('docker daemon.json', () => {
  it('vhost mode: docker.io only, insecure for http', () => {
    const generated = generateClientConfig('docker', config, optionsFor(config));
    expect(JSON.parse(onlyFile(generated).content)).toEqual({
      'registry-mirrors': ['http://docker.io.registry.example.com:5000'],
      'insecure-registries': ['docker.io.registry.example.com:5000'],
    });
    expect(generated.warnings).toEqual([expect.stringMatching(/docker\.io only; not mirrored for docker: ghcr\.io/)]);
  });

  it('https: no insecure-registries unless skip-verify; the CA goes to certs.d', () => {
    const https = generateClientConfig('docker', config, optionsFor(config, { endpoint: 'https://registry.example.com', caFile: '/ca.pem' }));
    expect(JSON.parse(onlyFile(https).content)).toEqual({ 'registry-mirrors': ['https://docker.io.registry.example.com'] });
    expect(https.warnings).toContainEqual(expect.stringMatching(/\/etc\/docker\/certs\.d\/docker\.io\.registry\.example\.com\/ca\.crt/));
    const skip = generateClientConfig('docker', config, optionsFor(config, { endpoint: 'https://registry.example.com:5443', skipVerify: true }));
    expect(JSON.parse(onlyFile(skip).content)['insecure-registries']).toEqual(['docker.io.registry.example.com:5443']);
  });

  it('single mode: dockerd sends no ns, so the mirror stays docker.io vhost unless the host is its alias', () => {
    const single = generateClientConfig('docker', config, optionsFor(config, { mode: 'single', endpoint: 'http://registry-cache:5000' }));
    expect(JSON.parse(onlyFile(single).content)['registry-mirrors']).toEqual(['http://docker.io.registry.example.com:5000']);
    expect(single.warnings).toContainEqual(expect.stringMatching(/sends no ns parameter/));
    const alias = generateClientConfig('docker', config, optionsFor(config, { mode: 'single', endpoint: 'http://hub.example.com:5000' }));
    expect(JSON.parse(onlyFile(alias).content)['registry-mirrors']).toEqual(['http://hub.example.com:5000']);
  });

  it('without docker.io: an empty fragment and a warning', () => {
    const ghcrOnly = configFrom('domain: r.example.com\nregistries:\n  ghcr.io:\n    upstream: https://ghcr.io\n');
    const generated = generateClientConfig('docker', ghcrOnly, optionsFor(ghcrOnly));
    expect(JSON.parse(onlyFile(generated).content)).toEqual({});
    expect(generated.warnings).toEqual([expect.stringMatching(/no cache mirrors docker\.io/)]);
  });
});

describe('k3d command', () => {
  const k3d = (input: Parameters<typeof parseK3dOptions>[1], mode: 'vhost' | 'single' = 'vhost', endpoint?: string) => {
    const options = optionsFor(config, { mode, endpoint });
    const parsed = parseK3dOptions(config, input, options);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    return k3dCommand(config, parsed.value);
  };

  it('uses the generated registries.yaml', () => {
    expect(k3d({})).toBe('k3d cluster create regcache --registry-config registries.yaml');
    expect(k3d({ cluster: 'dev', network: 'registry-cache', registryConfig: '/tmp/r.yaml' })).toBe(
      'k3d cluster create dev --registry-config /tmp/r.yaml --network registry-cache',
    );
  });

  it('adds host aliases so nodes resolve every vhost (or the single endpoint)', () => {
    expect(k3d({ hostIp: '172.18.0.5' })).toBe(
      'k3d cluster create regcache --registry-config registries.yaml --host-alias 172.18.0.5:docker.io.registry.example.com,ghcr.io.registry.example.com',
    );
    expect(k3d({ hostIp: '172.18.0.5' }, 'single', 'http://registry-cache:5000')).toBe(
      'k3d cluster create regcache --registry-config registries.yaml --host-alias 172.18.0.5:registry-cache',
    );
  });

  it('quotes shell words that need it', () => {
    expect(shellWord('a b')).toBe(`'a b'`);
    expect(shellWord(`it's`)).toBe(`'it'\\''s'`);
    expect(shellWord('/plain/path.yaml')).toBe('/plain/path.yaml');
  });
});
