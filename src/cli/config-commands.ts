import { nginxView } from '../apply/nginx/nginx-view.js';
import { processNginxPaths } from '../apply/nginx/process-nginx.js';
import { portBookFile, readPortBook } from '../apply/runtime/port-book.js';
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
 * Prints the nginx config `run` would apply. Cache ports come from the port book `run` keeps
 * under dataDir; a cache that has never run has no port yet and is shown at a placeholder
 * port (said in a leading comment), so the output always passes `nginx -t`.
 */
export async function renderCommand(values: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const file = configPathFrom(values, ctx.env);
  const result = await loadConfigFile(file, ctx.env);
  if (!result.ok) {
    printProblems(ctx.stderr, result.problems);
    return 1;
  }
  const { config } = result.value;
  const known = await readPortBook(portBookFile(config.dataDir));
  const placeholders = config.registries.filter((r) => !known[r.name]).map((r) => r.name);
  const backends = new Map(config.registries.map((r, i) => [r.name, `127.0.0.1:${known[r.name]?.port ?? 15000 + i}`]));
  const { prefix: _prefix, ...paths } = processNginxPaths(config.dataDir);
  const view = nginxView({ config, backends, generation: 1, paths });
  if (placeholders.length > 0) {
    ctx.stdout.write(`# placeholder backend ports for ${placeholders.join(', ')}: regcache run allocates them\n`);
  }
  ctx.stdout.write(createNginxRenderer(readNginxTemplates())(view));
  return 0;
}
