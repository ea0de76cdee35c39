import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import type { HostStyle, RegistryConfig } from '../model.js';
import type { ConfigProblem } from '../problems.js';
import type { TlsConfig } from './tls.js';

/**
 * Host names a certificate does not cover. A wildcard covers exactly one label, so
 * `*.registry.example.com` covers `docker-io.registry.example.com` but not `docker.io.registry.example.com`.
 * Null when the text is no certificate Node can read (nginx -t reports that).
 */
export function uncoveredHosts(certPem: string, hosts: readonly string[]): string[] | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return null;
  }
  return hosts.filter((host) => (net.isIP(host) ? cert.checkIP(host) : cert.checkHost(host)) === undefined);
}

/**
 * One warning per certificate that leaves some served host uncovered, naming those hosts. The bare
 * `domain` (the single-mode endpoint) is served with the global certificate unless a cache with its
 * own certificate claims it as an alias. Pure.
 */
export function certificateCoverage(
  tls: TlsConfig | null,
  registries: readonly RegistryConfig[],
  hostStyle: HostStyle,
  domain: string,
): ConfigProblem[] {
  if (!tls) return [];
  const warnings: ConfigProblem[] = [];
  const globalHosts: string[] = registries.some((r) => r.hosts.includes(domain)) ? [] : [domain];
  for (const registry of registries) {
    if (!registry.tls) {
      globalHosts.push(...registry.hosts);
      continue;
    }
    const missing = uncoveredHosts(registry.tls.certPem, registry.hosts);
    if (missing && missing.length > 0) {
      warnings.push({
        path: `registries.${registry.name}.tls.cert`,
        message: `${registry.tls.cert} does not cover ${missing.join(', ')}; clients verifying TLS will refuse these hosts`,
      });
    }
  }
  const missing = uncoveredHosts(tls.certPem, globalHosts);
  if (missing && missing.length > 0) {
    const hint =
      hostStyle === 'dotted' ? ' (a wildcard covers one label; hostStyle: dashed serves docker-io.<domain> instead of docker.io.<domain>)' : '';
    warnings.push({
      path: 'tls.cert',
      message: `${tls.cert} does not cover ${missing.join(', ')}; clients verifying TLS will refuse these hosts${hint}`,
    });
  }
  return warnings;
}
