// The docker CLI as tests call it: found on PATH (or failing the test), errors carrying its stderr.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireBinary } from './binaries.js';

const run = promisify(execFile);

export function requireDocker(): string {
  return requireBinary(['docker']);
}

export async function docker(args: string[], opts: { input?: string } = {}): Promise<string> {
  const bin = requireDocker();
  try {
    const child = run(bin, args, { maxBuffer: 64 << 20 });
    if (opts.input !== undefined) {
      child.child.stdin?.end(opts.input);
    }
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`docker ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Throws (so tests fail, never skip) when no Docker engine answers. */
export async function requireDockerEngine(): Promise<void> {
  try {
    await docker(['version', '--format', '{{.Server.Version}}']);
  } catch (err) {
    throw new Error(`a Docker engine is required (run .ci/setup to start dockerd): ${(err as Error).message}`);
  }
}

/** `docker run -d` arguments for a named container: its network, `-e NAME=value` per env entry, `-v` per volume spec. */
export function detachedRunArgs(opts: { name: string; image: string; network?: string; env?: Record<string, string>; volumes?: string[] }): string[] {
  return [
    'run',
    '-d',
    '--name',
    opts.name,
    ...(opts.network ? ['--network', opts.network] : []),
    ...Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ...(opts.volumes ?? []).flatMap((v) => ['-v', v]),
    opts.image,
  ];
}
