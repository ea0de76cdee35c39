import { isIP } from 'node:net';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export interface RequestOriginOptions {
  /** Names (admin.hosts) a browser may use for the admin API besides IP addresses and localhost. */
  hosts: () => readonly string[];
}

/** The host part of a Host header or URL authority, lower-cased, without port or IPv6 brackets; null when malformed. */
export function hostOf(authority: string): string | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::\d{1,5})?$/.exec(authority.trim());
  if (!m) return null;
  return m[1]!
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
}

/**
 * DNS rebinding: a page on evil.example whose name later resolves to 127.0.0.1 reaches the admin API
 * with `Host: evil.example`. An address or `localhost` cannot be rebound, so those pass, and so do the
 * names the operator lists in admin.hosts; anything else is refused.
 */
export function hostAllowed(hostHeader: string | undefined, hosts: readonly string[]): boolean {
  if (!hostHeader) return false;
  const host = hostOf(hostHeader);
  if (host === null) return false;
  return isIP(host) !== 0 || host === 'localhost' || hosts.some((h) => h.toLowerCase() === host);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Cross-site request forgery: a browser sends `Sec-Fetch-Site` (and, for POST, `Origin`) with every
 * request a page makes. A state-changing request is refused unless it comes from the admin origin
 * itself or from no page at all (curl, scripts: no such headers).
 */
export function crossSite(req: Pick<Request, 'method' | 'get'>): string | null {
  if (SAFE_METHODS.has(req.method)) return null;
  const site = req.get('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site: ${site}`;
  const origin = req.get('origin');
  if (origin === undefined) return null;
  let originHost: string | null = null;
  try {
    const url = new URL(origin);
    originHost = url.host;
  } catch {
    return 'Origin is not a URL';
  }
  const host = req.get('host');
  return host !== undefined && originHost.toLowerCase() === host.toLowerCase() ? null : 'Origin is another site';
}

/** Host check on every route but liveness and readiness (orchestrators probe those by any name), then the cross-site check. */
export function requestOriginGuard(opts: RequestOriginOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.path === '/healthz' || req.path === '/readyz') return next();
    if (!hostAllowed(req.get('host'), opts.hosts())) {
      res.status(403).json({ error: "this Host is not the admin API's; use its address, localhost, or a name listed in admin.hosts" });
      return;
    }
    const why = crossSite(req);
    if (why) {
      res.status(403).json({ error: `cross-site request refused (${why})` });
      return;
    }
    next();
  };
}
