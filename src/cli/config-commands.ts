import path from 'node:path';
import { nginxView } from '../apply/nginx/nginx-view.js';
import { createNginxRenderer, readNginxTemplates } from '../apply/nginx/render.js';
import { loadConfigFile } from '../config/load.js';
import type { CommandContext } from './commands.js';
import { configPathFrom, printProblems } from './commands.js';

export async function validateCommand(values: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const file = configPathFrom(values, ctx.env);
  const result = await loadConfigFile(file, ctx.env);
  if (!result.ok) {
    printProblems(ctx.stderr, result.problems);
    return 1;
  }
  ctx.stdout.write(`${file}: ok (${result.value.config.registries.length} registries)\n`);
  return 0;
}

/**
 * Prints the nginx config `run` would apply. Backend addresses are placeholders here
 * (127.0.0.1:0 style would not pass nginx -t), so each cache is shown at its process-runtime
 * port as it would be allocated: the structure, hosts and routes are exactly what run writes.
 */
export async function renderCommand(values: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const file = configPathFrom(values, ctx.env);
  const result = await loadConfigFile(file, ctx.env);
  if (!result.ok) {
    printProblems(ctx.stderr, result.problems);
    return 1;
  }
  const { config } = result.value;
  const backends = new Map(config.registries.map((r, i) => [r.name, `127.0.0.1:${15000 + i}`]));
  const prefix = path.join(config.dataDir, 'nginx');
  const view = nginxView({
    config,
    backends,
    generation: 1,
    paths: {
      pid: path.join(prefix, 'nginx.pid'),
      errorLog: path.join(prefix, 'logs', 'error.log'),
      accessLog: path.join(prefix, 'logs', 'access.log'),
      temp: path.join(prefix, 'temp'),
    },
  });
  ctx.stdout.write(createNginxRenderer(readNginxTemplates())(view));
  return 0;
}
