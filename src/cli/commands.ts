// Every command the CLI knows, by name.
import type { Command } from './command-context.js';
import { runCommand } from './run-command.js';
import { renderCommand, validateCommand } from './config-commands.js';
import { clientsCommand, clientsOptions } from './clients-command.js';
import { statusCommand } from './status-command.js';
import { purgeCommand } from './purge-command.js';
import { warmCommand, warmOptions } from './warm-command.js';

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

export type { Command, CommandContext } from './command-context.js';
