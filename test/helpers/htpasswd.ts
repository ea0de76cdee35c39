import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireBinary } from './binaries.js';

/** One bcrypt htpasswd line made by Apache's htpasswd (the tool users run). */
export async function bcryptEntry(user: string, password: string): Promise<string> {
  const { stdout } = await promisify(execFile)(requireBinary(['htpasswd']), ['-nbB', user, password]);
  return stdout.trim() + '\n';
}
