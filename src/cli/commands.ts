import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { formatProblem } from '../config/problems.js';
import { runCommand } from './run-command.js';
import { renderCommand, validateCommand } from './config-commands.js';
import { clientsCommand, clientsOptions } from './clients-command.js';
import { statusCommand } from './status-command.js';
import { purgeCommand } from './purge-command.js';
import { warmCommand, warmOptions } from './warm-command.js';

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

const configOption = { config: { type: 'string', short: 'c' } } as const;

export const commands: Record<string, Command> = {
  run: { options: configOption, run: runCommand },
  validate: { options: configOption, run: validateCommand },
  render: { options: { ...configOption, egress: { type: 'boolean' } }, run: renderCommand },
  clients: { options: clientsOptions, positionals: true, run: clientsCommand },
  status: { options: { admin: { type: 'string' } }, run: statusCommand },
  purge: { options: configOption, positionals: true, run: purgeCommand },
  warm: { options: warmOptions, positionals: true, run: warmCommand as Command['run'] },
};

export function configPathFrom(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string {
  return path.resolve((values.config as string | undefined) ?? env.REGCACHE_CONFIG ?? 'registries.yaml');
}

export function printProblems(stream: NodeJS.WritableStream, problems: Array<{ path: string; message: string }>): void {
  for (const p of problems) stream.write(`${formatProblem(p)}\n`);
}
