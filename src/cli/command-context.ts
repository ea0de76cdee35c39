import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { loadConfigFile, type LoadedConfig } from '../config/load.js';
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

/** The config named by --config (or REGCACHE_CONFIG), or null after its problems went to stderr. */
export async function loadConfigOrReport(
  values: Record<string, unknown>,
  ctx: CommandContext,
): Promise<{ file: string; loaded: LoadedConfig } | null> {
  const file = configPathFrom(values, ctx.env);
  const result = await loadConfigFile(file, ctx.env);
  if (result.ok) return { file, loaded: result.value };
  printProblems(ctx.stderr, result.problems);
  return null;
}
