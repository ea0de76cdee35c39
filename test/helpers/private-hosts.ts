// Name resolution for test-only host names (`alpha.test.regcache.test`) without touching the
// machine's /etc/hosts: the client runs in its own mount namespace where a temp hosts file is
// bind-mounted over /etc/hosts. Other processes on the machine never see the names.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireBinary } from './binaries.js';

export interface PrivateHosts {
  file: string;
  /** The argv that runs `bin args…` with the private /etc/hosts. The PID stays the program's own (exec all the way). */
  wrap(bin: string, args: string[]): { command: string; args: string[] };
}

export async function createPrivateHosts(dir: string, loopbackNames: string[]): Promise<PrivateHosts> {
  const unshare = requireBinary(['unshare']);
  const sh = requireBinary(['sh']);
  requireBinary(['mount']);
  const file = join(dir, 'hosts');
  const system = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1 localhost\n');
  await writeFile(file, `${system.trimEnd()}\n127.0.0.1 ${loopbackNames.join(' ')}\n`);
  return {
    file,
    wrap: (bin, args) => ({
      command: unshare,
      // unshare execs sh, sh execs the program: one process, so killing the PID we spawned kills it.
      args: ['--mount', '--', sh, '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', file, bin, ...args],
    }),
  };
}
