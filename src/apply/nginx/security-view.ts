import { formatListen } from '../../config/address.js';
import type { RegcacheConfig } from '../../config/model.js';
import { effectiveAccess } from '../../config/sections/access.js';

/** Who may use one routed cache, flattened for the template. */
export interface RouteAccessView {
  upstreamId: string;
  /** Realm for auth_basic, or "off" when the route has no htpasswd. */
  realm: string;
  htpasswd: string;
  /** CIDRs allowed, or null for everyone. */
  allow: string[] | null;
  /** Full proxy_pass target (named upstream + path) of the external authenticator, or "". */
  authTarget: string;
  authHost: string;
}

export interface AuthUpstreamView {
  id: string;
  server: string;
}

export interface TlsServerView {
  /** Empty for the default server (global certificate); else the hosts this certificate serves. */
  serverNames: string[];
  cert: string;
  key: string;
}

export interface SecurityView {
  /** Any route uses htpasswd / allow / authRequest: the template emits those directives only then. */
  basicAuth: boolean;
  allowLists: boolean;
  authRequest: boolean;
  routes: RouteAccessView[];
  authUpstreams: AuthUpstreamView[];
  tls: {
    listen: string;
    clientCA: string | null;
    /** Fingerprint of all certificate contents; a renewal changes the rendered bytes and so triggers a reload. */
    material: string;
    servers: TlsServerView[];
  } | null;
  /** False with tls.httpDisabled: the http listener then answers only regcache's own probe. */
  httpServesRegistry: boolean;
}

/** Access rules and TLS servers for the routed caches, from the validated config only. */
export function securityView(config: RegcacheConfig, routed: ReadonlySet<string>, upstreamIdOf: (name: string) => string): SecurityView {
  const registries = config.registries.filter((r) => routed.has(r.name));
  const authUpstreams: AuthUpstreamView[] = [];
  const authUpstreamFor = (url: URL) => {
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    const server = `${url.hostname}:${port}`;
    let found = authUpstreams.find((u) => u.server === server);
    if (!found) authUpstreams.push((found = { id: `regcache_auth_${authUpstreams.length}`, server }));
    return found.id;
  };
  const routes = registries.map((r): RouteAccessView => {
    const rules = effectiveAccess(config.access, r.access);
    const auth = rules.authRequest ? new URL(rules.authRequest) : null;
    return {
      upstreamId: upstreamIdOf(r.name),
      realm: rules.htpasswd ? rules.realm : 'off',
      htpasswd: rules.htpasswd?.path ?? '',
      allow: rules.allow,
      authTarget: auth ? `${auth.protocol}//${authUpstreamFor(auth)}${auth.pathname}` : '',
      authHost: auth?.host ?? '',
    };
  });
  const tls = config.tls;
  return {
    basicAuth: routes.some((r) => r.htpasswd !== ''),
    allowLists: routes.some((r) => r.allow !== null),
    authRequest: routes.some((r) => r.authTarget !== ''),
    routes,
    authUpstreams,
    tls: tls
      ? {
          listen: formatListen(tls.listen),
          clientCA: tls.clientCA,
          material: [tls.material, ...registries.map((r) => r.tls?.material ?? '')].join(''),
          servers: [
            { serverNames: [], cert: tls.cert, key: tls.key },
            ...registries.filter((r) => r.tls).map((r) => ({ serverNames: r.hosts, cert: r.tls!.cert, key: r.tls!.key })),
          ],
        }
      : null,
    httpServesRegistry: !tls?.httpDisabled,
  };
}

/** Where the plain-http server listens: loopback only when it serves just the probe. */
export function httpListen(config: RegcacheConfig): string {
  if (config.tls?.httpDisabled) return formatListen({ host: '127.0.0.1', port: config.listen.port });
  return formatListen(config.listen);
}
