import express, { type ErrorRequestHandler, type RequestHandler, type Response } from 'express';
import type { ConfigProblem } from '../../config/problems.js';

/** A JSON body parser of at most `limitKib` KiB, whatever the Content-Type. */
export function jsonBody(limitKib: number): RequestHandler {
  return express.json({ limit: `${limitKib}kb`, type: () => true });
}

/** The body parser's own errors are the client's: malformed JSON 400, too large 413 (not the app's 500). */
export function jsonBodyErrors(limitKib: number): ErrorRequestHandler {
  return (err: { type?: string }, _req, res, next) => {
    if (err?.type === 'entity.parse.failed') res.status(400).json({ error: 'body is not valid JSON' });
    else if (err?.type === 'entity.too.large') res.status(413).json({ error: `body larger than ${limitKib} KiB` });
    else next(err);
  };
}

/**
 * The body as an object with only `keys`, or null after answering 400 (not an object: `example`
 * shows one; an unknown key: named).
 */
export function objectBody(body: unknown, keys: readonly string[], example: string, res: Response): Record<string, unknown> | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    res.status(400).json({ error: `body must be a JSON object: ${example}` });
    return null;
  }
  const unknown = Object.keys(body).filter((k) => !keys.includes(k));
  if (unknown.length > 0) {
    res.status(400).json({ error: `${unknown[0]}: unknown key`, problems: unknown.map((k) => ({ path: k, message: 'unknown key' })) });
    return null;
  }
  return body as Record<string, unknown>;
}

/** Problems of a request the service refused: 400 naming the first, or 503 when it has no path (not ready). */
export function sendProblems(res: Response, problems: ConfigProblem[]): void {
  const p = problems[0]!;
  res.status(p.path === '' ? 503 : 400).json({ error: p.path ? `${p.path}: ${p.message}` : p.message, problems });
}
