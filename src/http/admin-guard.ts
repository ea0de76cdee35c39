import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Clock } from '../util/clock.js';

/**
 * Security headers on every admin response. The status page is server-rendered with inline CSS
 * and no scripts from elsewhere; nothing may frame it.
 */
export function securityHeaderValues(inlineScriptHashes: readonly string[] = []): Record<string, string> {
  const scripts = ["'self'", ...inlineScriptHashes.map((h) => `'${h}'`)].join(' ');
  return {
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': `default-src 'self'; script-src ${scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`,
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

/**
 * Hashes (CSP `sha256-…`) of the inline scripts in a page template, so exactly those scripts run and
 * no injected one does. Only scripts without template tags qualify: their bytes are fixed.
 */
export function inlineScriptHashes(template: string): string[] {
  return [...template.matchAll(/<script>([\s\S]*?)<\/script>/g)]
    .map((m) => m[1]!)
    .filter((body) => !body.includes('<%'))
    .map((body) => `sha256-${createHash('sha256').update(body).digest('base64')}`);
}

export function securityHeaders(inlineScripts: readonly string[] = []): RequestHandler {
  const headers = securityHeaderValues(inlineScripts);
  return (_req, res, next) => {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    next();
  };
}

export interface AdminGuardOptions {
  /** The bearer token in force now (it follows the applied config); null leaves the API open. */
  token: () => string | null;
  /** /metrics without the token. */
  metricsPublic: () => boolean;
  clock: Clock;
  /** Failed attempts per client address within windowMs before it is locked out (default 10 per 60 s). */
  maxFailures?: number;
  windowMs?: number;
  /** How long a locked-out address gets 429 (default 60 s). */
  lockoutMs?: number;
  /** Addresses tracked at most; the oldest entry goes first (bounded memory under a spray of addresses). */
  maxTracked?: number;
}

interface FailureRecord {
  windowStart: number;
  failures: number;
  lockedUntil: number;
}

/**
 * Paths open without the token: liveness, readiness, the human status page, and /metrics when public.
 * Everything else needs it. Deny by default, and exact comparison: Express matches routes
 * case-insensitively and with trailing slashes, so a prefix check on "/api/" would let "/API/…" through.
 */
export function needsToken(path: string, metricsPublic: boolean): boolean {
  if (path === '/healthz' || path === '/readyz' || path === '/') return false;
  return !(metricsPublic && path === '/metrics');
}

/** Compares in constant time whatever the lengths (both sides hashed to 32 bytes first). */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Bearer-token check (every path but the open ones above) with a per-address limit on wrong tokens.
 * A right token always passes, even from an address over the limit, so nobody sharing 127.0.0.1 can
 * lock the operator out; over the limit, wrong tokens get 429 with Retry-After instead of 401. A
 * request without a token is no guess and is not counted. Tokens are at least 16 characters, so the
 * limit keeps guessing cheap to refuse and visible, not the only thing in its way.
 */
export function adminGuard(opts: AdminGuardOptions): RequestHandler {
  const maxFailures = opts.maxFailures ?? 10;
  const windowMs = opts.windowMs ?? 60_000;
  const lockoutMs = opts.lockoutMs ?? 60_000;
  const maxTracked = opts.maxTracked ?? 10_000;
  const records = new Map<string, FailureRecord>();

  const recordFailure = (client: string, now: number) => {
    let r = records.get(client);
    if (!r || (now - r.windowStart >= windowMs && r.lockedUntil <= now)) {
      records.delete(client);
      if (records.size >= maxTracked) records.delete(records.keys().next().value!);
      r = { windowStart: now, failures: 0, lockedUntil: 0 };
      records.set(client, r);
    }
    r.failures++;
    if (r.failures >= maxFailures) r.lockedUntil = now + lockoutMs;
  };

  return (req: Request, res: Response, next: NextFunction) => {
    const expected = opts.token();
    if (expected === null || !needsToken(req.path, opts.metricsPublic())) return next();
    const header = req.get('authorization') ?? '';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (match && tokenMatches(match[1]!, expected)) return next();
    res.setHeader('WWW-Authenticate', 'Bearer realm="regcache-admin"');
    if (!header) {
      res.status(401).json({ error: 'this route needs Authorization: Bearer <admin token>' });
      return;
    }
    // The socket address, never X-Forwarded-For: a client must not choose its own bucket.
    const client = req.socket.remoteAddress ?? 'unknown';
    const now = opts.clock.now();
    const record = records.get(client);
    if (record && record.lockedUntil > now) {
      res.setHeader('Retry-After', String(Math.ceil((record.lockedUntil - now) / 1000)));
      res.status(429).json({ error: 'too many wrong tokens from this address; retry later' });
      return;
    }
    recordFailure(client, now);
    res.status(401).json({ error: 'invalid bearer token' });
  };
}
