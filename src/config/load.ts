import { readFileSync, statSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { ReadConfigFile } from './config-files.js';
import path from 'node:path';
import { parseDotenv } from './dotenv.js';
import type { RegcacheConfig } from './model.js';
import { parseConfig } from './parse.js';
import type { Result } from './problems.js';
import { YAML_LIMITS } from './read-yaml.js';

export interface LoadedConfig {
  config: RegcacheConfig;
  /** The exact bytes read, so callers can skip work when the file did not change. */
  text: string;
}

/**
 * Reads the file and a `.env` beside it, then parses. The process environment wins over `.env`,
 * as in docker compose. A missing or unreadable file is a problem, not an exception.
 */
export async function loadConfigFile(file: string, env: Readonly<Record<string, string | undefined>>): Promise<Result<LoadedConfig>> {
  const source = path.resolve(file);
  const read = await readBounded(source, YAML_LIMITS.maxBytes);
  if (!read.ok) return { ok: false, problems: [{ path: '', message: `cannot read ${source}: ${read.message}` }] };
  const text = read.text;
  let dotenv: Record<string, string> = {};
  try {
    const envFile = await readBounded(path.join(path.dirname(source), '.env'), 64 * 1024);
    if (envFile.ok) dotenv = parseDotenv(envFile.text);
  } catch {
    // No .env beside the file is the common case.
  }
  const result = parseConfig(text, { source, env: { ...dotenv, ...env }, readFile: readSmallFile });
  return result.ok ? { ok: true, value: { config: result.value, text } } : result;
}

/**
 * loadConfigFile, but a failure is read once more after `settle()`: an in-place save (truncate, then
 * write) can be caught between its two steps, and such a half-written file must not be reported as
 * the user's mistake. A file that stays broken is rejected with the second read's problems.
 */
export async function loadConfigFileSettled(
  file: string,
  env: Readonly<Record<string, string | undefined>>,
  settle: () => Promise<void>,
): Promise<Result<LoadedConfig>> {
  const first = await loadConfigFile(file, env);
  if (first.ok) return first;
  await settle();
  return loadConfigFile(file, env);
}

const MAX_REFERENCED_FILE = 1 << 20;

/** Certificates, htpasswd and password files: small, read whole, errors as messages. */
export const readSmallFile: ReadConfigFile = (absPath) => {
  try {
    // Checked before reading: a path to /dev/zero or a FIFO must not be read at all.
    const info = statSync(absPath);
    if (info.isDirectory()) return { ok: false, message: 'is a directory' };
    if (!info.isFile()) return { ok: false, message: 'not a regular file' };
    if (info.size > MAX_REFERENCED_FILE) return { ok: false, message: 'larger than 1 MiB' };
    const buf = readFileSync(absPath);
    if (buf.length > MAX_REFERENCED_FILE) return { ok: false, message: 'larger than 1 MiB' };
    return { ok: true, text: buf.toString('utf8') };
  } catch (err) {
    return { ok: false, message: readErrorMessage(err, (err as Error).message) };
  }
};

/** A failed read as a short message: the usual causes in words, anything else as `fallback`. */
function readErrorMessage(err: unknown, fallback: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return fallback;
}

/**
 * A regular file of at most `max` bytes, read whole; anything else is a message. Never reads more
 * than max + 1 bytes, so a config replaced by (or symlinked to) a huge file, /dev/zero or a FIFO
 * costs nothing.
 */
async function readBounded(file: string, max: number): Promise<{ ok: true; text: string } | { ok: false; message: string }> {
  try {
    const info = await stat(file);
    if (info.isDirectory()) return { ok: false, message: 'is a directory' };
    if (!info.isFile()) return { ok: false, message: 'not a regular file' };
    if (info.size > max) return { ok: false, message: `the file is ${info.size} bytes; a config may be at most ${max} bytes (512 KiB)` };
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(max + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length > max) return { ok: false, message: `the file is larger than ${max} bytes (512 KiB)` };
      }
      try {
        return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, length)) };
      } catch {
        return { ok: false, message: 'this is not a YAML text file (it is not UTF-8); nothing of it was read' };
      }
    } finally {
      await handle.close();
    }
  } catch (err) {
    return { ok: false, message: readErrorMessage(err, (err as NodeJS.ErrnoException).code ?? 'read error') };
  }
}
