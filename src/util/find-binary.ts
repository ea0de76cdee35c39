import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Finds an executable: the env override first, then each name on PATH and in the sbin
 * directories (Debian installs nginx in /usr/sbin, often not on a user's PATH).
 */
export function findBinary(names: string[], envValue: string | undefined): string | null {
  if (envValue) return isExecutable(envValue) ? envValue : null;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'].filter(Boolean);
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return null;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    // A directory passes the X_OK check too.
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
