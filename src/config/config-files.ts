import { createHash } from 'node:crypto';
import path from 'node:path';

/** A file the config points at, read at load time (certificates, htpasswd, password files). */
export type FileRead = { ok: true; text: string } | { ok: false; message: string };

/** Reads a file by absolute path. Injected so parsing stays a pure function of its inputs. */
export type ReadConfigFile = (absPath: string) => FileRead;

/** When no reader is given, file references are problems rather than silent omissions. */
export const noFileReader: ReadConfigFile = () => ({ ok: false, message: 'files cannot be read here' });

/** Paths written in the config resolve against the config file's directory. */
export function resolveConfigPath(source: string, p: string): string {
  return path.resolve(path.dirname(source), p);
}

/**
 * Characters refused in any path that lands in nginx config: whitespace and control characters,
 * quotes, `;`, braces, `$` (nginx variables), `#`, backslash. Paths are also quoted when rendered.
 */
const UNSAFE_PATH_CHARS = /[\s\p{Cc}"'`;{}$#\\]/u;

export function unsafePathMessage(p: string): string | null {
  if (p.length === 0) return 'must not be empty';
  if (p.length > 1024) return 'must be at most 1024 characters';
  if (UNSAFE_PATH_CHARS.test(p)) return 'must be a path without whitespace, control characters, quotes, semicolons, braces, $, # or backslashes';
  return null;
}

export function fingerprint(parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part.length}:${part}`);
  return hash.digest('hex').slice(0, 16);
}
