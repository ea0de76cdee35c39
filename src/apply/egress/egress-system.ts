import { access, readFile } from 'node:fs/promises';
import net from 'node:net';
import type { EgressSystem } from '../../desired/egress-routes.js';

/** Where Debian/Ubuntu, Fedora/RHEL, Alpine and openSUSE keep the system CA bundle. */
const CA_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem', '/etc/ssl/ca-bundle.pem'];

/** The nameservers of a resolv.conf: IP addresses only, link-local zone ids dropped (nginx cannot use them). */
export function parseResolvConf(text: string): string[] {
  const servers: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m || m[1]!.includes('%')) continue;
    if (net.isIP(m[1]!) !== 0 && !servers.includes(m[1]!)) servers.push(m[1]!);
  }
  return servers;
}

/** Reads the machine's nameservers and CA bundle for nginx's egress. Missing pieces come back empty. */
export async function readEgressSystem(resolvConf = '/etc/resolv.conf', bundles = CA_BUNDLES): Promise<EgressSystem> {
  const resolvers = parseResolvConf(await readFile(resolvConf, 'utf8').catch(() => ''));
  let caFile: string | null = null;
  for (const candidate of bundles) {
    if (
      await access(candidate).then(
        () => true,
        () => false,
      )
    ) {
      caFile = candidate;
      break;
    }
  }
  return { resolvers, caFile };
}
