import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { formatProblem } from '../config/problems.js';

/** What a command may touch: the environment and the two output streams. */
export interface CommandContext {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface Command {
  options: NonNullable<ParseArgsConfig['options']>;
  /** Takes positional arguments (e.g. `clients containerd`). */
  positionals?: true;
  run(values: Record<string, string | boolean | undefined>, ctx: CommandContext, positionals?: string[]): Promise<number>;
}

export function configPathFrom(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string {
  return path.resolve((values.config as string | undefined) ?? env.REGCACHE_CONFIG ?? 'registries.yaml');
}

export function printProblems(stream: NodeJS.WritableStream, problems: Array<{ path: string; message: string }>): void {
  for (const p of problems) stream.write(`${formatProblem(p)}\n`);
}
