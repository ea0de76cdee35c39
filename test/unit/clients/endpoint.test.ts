import { describe, expect, it } from 'vitest';
import { parseClientOptions, parseK3dOptions } from '../../../src/clients/client-request.js';
import { clientEndpoints, endpointBaseFromConfig, endpointWarnings, parseEndpointBase } from '../../../src/clients/endpoint.js';
import { configFrom, configWithTls, optionsFor, TWO_REGISTRIES } from './config-fixture.js';

describe('endpoint base', () => {
  it('defaults to http on the config domain and listen port', () => {
    const config = configFrom(TWO_REGISTRIES);
    expect(endpointBaseFromConfig(config)).toEqual({ scheme: 'http', host: 'registry.example.com', port: 5000 });
  });

  it('is https on the TLS listener when the config has a tls section, with no --endpoint', () => {
    const config = configWithTls(TWO_REGISTRIES, '5443');
    expect(endpointBaseFromConfig(config)).toEqual({ scheme: 'https', host: 'registry.example.com', port: 5443 });
    expect(clientEndpoints(config, optionsFor(config)).map((e) => [e.url, e.hostPort, e.scheme])).toEqual([
      ['https://docker.io.registry.example.com:5443', 'docker.io.registry.example.com:5443', 'https'],
      ['https://ghcr.io.registry.example.com:5443', 'ghcr.io.registry.example.com:5443', 'https'],
    ]);
    const standardPort = configWithTls(TWO_REGISTRIES, '443');
    expect(clientEndpoints(standardPort, optionsFor(standardPort, { mode: 'single' })).map((e) => e.url)).toEqual([
      'https://registry.example.com',
      'https://registry.example.com',
    ]);
  });

  it('parses overrides and fills default ports', () => {
    expect(parseEndpointBase('http://registry-cache:5000')).toEqual({ scheme: 'http', host: 'registry-cache', port: 5000 });
    expect(parseEndpointBase('https://Cache.Example.com')).toEqual({ scheme: 'https', host: 'cache.example.com', port: 443 });
    expect(parseEndpointBase('http://10.0.0.7/')).toEqual({ scheme: 'http', host: '10.0.0.7', port: 80 });
  });

  it.each([
    ['registry-cache:5000', /http or https/],
    ['ftp://x', /http or https/],
    ['http://u:p@x:5000', /credentials/],
    ['http://x:5000/v2', /no path/],
    ['http://x:5000?ns=docker.io', /no path, query/],
    ['not a url', /not an absolute URL/],
  ])('refuses %s', (text, message) => {
    const parsed = parseEndpointBase(text);
    expect(typeof parsed).toBe('string');
    expect(parsed).toMatch(message);
  });
});

describe('client endpoints', () => {
  const config = configFrom(TWO_REGISTRIES);

  it('vhost mode: one vhost per registry, with the real upstream', () => {
    expect(clientEndpoints(config, optionsFor(config))).toEqual([
      {
        registry: 'docker.io',
        mirrorOf: 'docker.io',
        upstream: 'https://registry-1.docker.io',
        url: 'http://docker.io.registry.example.com:5000',
        hostPort: 'docker.io.registry.example.com:5000',
        scheme: 'http',
        byHost: true,
      },
      {
        registry: 'ghcr.io',
        mirrorOf: 'ghcr.io',
        upstream: 'https://ghcr.io',
        url: 'http://ghcr.io.registry.example.com:5000',
        hostPort: 'ghcr.io.registry.example.com:5000',
        scheme: 'http',
        byHost: true,
      },
    ]);
  });

  it('single mode: one endpoint for all, routed by ns (by host only where the host is an alias)', () => {
    const endpoints = clientEndpoints(config, optionsFor(config, { mode: 'single' }));
    expect(endpoints.map((e) => [e.registry, e.url, e.byHost])).toEqual([
      ['docker.io', 'http://registry.example.com:5000', false],
      ['ghcr.io', 'http://registry.example.com:5000', false],
    ]);
    const viaAlias = clientEndpoints(config, optionsFor(config, { mode: 'single', endpoint: 'http://hub.example.com:5000' }));
    expect(viaAlias.map((e) => e.byHost)).toEqual([true, false]);
  });

  it('drops default ports and keeps the override scheme', () => {
    const endpoints = clientEndpoints(config, optionsFor(config, { endpoint: 'https://registry.example.com' }));
    expect(endpoints.map((e) => e.url)).toEqual(['https://docker.io.registry.example.com', 'https://ghcr.io.registry.example.com']);
    expect(endpoints[0]!.hostPort).toBe('docker.io.registry.example.com');
  });

  it('warns when vhosts of an overriding host are not routed by nginx', () => {
    expect(endpointWarnings(config, optionsFor(config))).toEqual([]);
    const [warning] = endpointWarnings(config, optionsFor(config, { endpoint: 'http://other.example.org:5000' }));
    expect(warning).toMatch(/docker\.io\.other\.example\.org, ghcr\.io\.other\.example\.org will answer 404/);
  });

  it('warns when the single endpoint is a vhost (ns would be ignored)', () => {
    const warnings = endpointWarnings(config, optionsFor(config, { mode: 'single', endpoint: 'http://hub.example.com:5000' }));
    expect(warnings).toEqual([expect.stringMatching(/hub\.example\.com is a host of docker\.io/)]);
  });

  it('warns that TLS options do nothing on http', () => {
    const warnings = endpointWarnings(config, optionsFor(config, { skipVerify: 'true' }));
    expect(warnings).toEqual([expect.stringMatching(/https endpoints only/)]);
  });
});

describe('request parameters', () => {
  const config = configFrom(TWO_REGISTRIES);

  it('names every bad parameter', () => {
    const result = parseClientOptions(config, { mode: 'both', endpoint: 'x', caFile: 'relative.pem', skipVerify: 'maybe' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.param)).toEqual(['mode', 'endpoint', 'caFile', 'skipVerify']);
    expect(result.problems[0]!.message).toBe('must be vhost or single (got "both")');
  });

  it('accepts booleans as the CLI and the query give them', () => {
    for (const [value, expected] of [
      [true, true],
      ['true', true],
      ['1', true],
      ['', true],
      ['false', false],
      ['0', false],
      [undefined, false],
    ] as const) {
      const result = parseClientOptions(config, { skipVerify: value });
      expect(result.ok && result.value.tls.skipVerify).toBe(expected);
    }
  });

  it('validates the k3d parameters', () => {
    const options = optionsFor(config);
    const bad = parseK3dOptions(config, { cluster: 'Bad_Name', hostIp: '300.1.1.1', network: '-x', registryConfig: 'a b.yaml' }, options);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems.map((p) => p.param)).toEqual(['cluster', 'registryConfig', 'network', 'hostIp']);
    const good = parseK3dOptions(config, {}, options);
    expect(good).toEqual({
      ok: true,
      value: {
        cluster: 'regcache',
        registryConfig: 'registries.yaml',
        network: null,
        hostIp: null,
        mode: 'vhost',
        endpointHost: 'registry.example.com',
      },
    });
  });
});
