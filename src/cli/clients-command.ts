import path from 'node:path';
import { parseClientOptions, parseK3dOptions, type ClientRequestInput, type ParamProblem } from '../clients/client-request.js';
import { generateClientConfig } from '../clients/generate.js';
import { CLIENT_KINDS, printable, type ClientKind, type GeneratedFile } from '../clients/generated.js';
import { k3dCommand } from '../clients/k3d-command.js';
import { loadConfigFile } from '../config/load.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { configPathFrom, printProblems, type CommandContext } from './command-context.js';

export const clientsOptions = {
  config: { type: 'string', short: 'c' },
  out: { type: 'string', short: 'o' },
  mode: { type: 'string' },
  endpoint: { type: 'string' },
  'ca-file': { type: 'string' },
  'skip-verify': { type: 'boolean' },
  cluster: { type: 'string' },
  network: { type: 'string' },
  'registry-config': { type: 'string' },
  'host-ip': { type: 'string' },
} as const;

const FLAG_OF: Record<ParamProblem['param'], string> = {
  mode: '--mode',
  endpoint: '--endpoint',
  caFile: '--ca-file',
  skipVerify: '--skip-verify',
  cluster: '--cluster',
  network: '--network',
  registryConfig: '--registry-config',
  hostIp: '--host-ip',
};

const TARGETS = [...CLIENT_KINDS, 'k3d'] as const;

function requestInput(values: Record<string, unknown>): ClientRequestInput {
  const text = (key: string) => values[key] as string | undefined;
  return {
    mode: text('mode'),
    endpoint: text('endpoint'),
    caFile: text('ca-file'),
    skipVerify: values['skip-verify'] as boolean | undefined,
    cluster: text('cluster'),
    network: text('network'),
    registryConfig: text('registry-config'),
    hostIp: text('host-ip'),
  };
}

async function writeFiles(dir: string, files: GeneratedFile[], ctx: CommandContext): Promise<void> {
  for (const file of files) {
    const target = path.join(dir, file.path);
    await writeFileAtomic(target, file.content);
    ctx.stdout.write(`wrote ${target}\n`);
  }
}

/**
 * `regcache clients containerd|k3s|docker|podman|k3d`: client configuration generated from the same
 * registries.yaml. Prints the documents, or writes them under `--out DIR`.
 */
export async function clientsCommand(values: Record<string, unknown>, ctx: CommandContext, positionals: string[] = []): Promise<number> {
  const target = positionals[0];
  if (positionals.length !== 1 || !TARGETS.includes(target as (typeof TARGETS)[number])) {
    ctx.stderr.write(`regcache clients: name one client: ${TARGETS.join(', ')}\n`);
    return 2;
  }
  const loaded = await loadConfigFile(configPathFrom(values, ctx.env), ctx.env);
  if (!loaded.ok) {
    printProblems(ctx.stderr, loaded.problems);
    return 1;
  }
  const { config } = loaded.value;
  const input = requestInput(values);
  const badParams = (problems: ParamProblem[]) => {
    for (const p of problems) ctx.stderr.write(`regcache clients: ${FLAG_OF[p.param]}: ${p.message}\n`);
    return 2;
  };
  const options = parseClientOptions(config, input, target);
  if (!options.ok) return badParams(options.problems);
  const out = values.out as string | undefined;

  if (target === 'k3d') {
    const k3s = generateClientConfig('k3s', config, options.value);
    const registriesFile = out ? path.join(out, 'registries.yaml') : undefined;
    const k3d = parseK3dOptions(config, { ...input, registryConfig: input.registryConfig ?? registriesFile }, options.value);
    if (!k3d.ok) return badParams(k3d.problems);
    for (const w of k3s.warnings) ctx.stderr.write(`warning: ${w}\n`);
    if (out) await writeFiles(out, k3s.files, ctx);
    ctx.stdout.write(`${k3dCommand(config, k3d.value)}\n`);
    return 0;
  }

  const generated = generateClientConfig(target as ClientKind, config, options.value);
  for (const w of generated.warnings) ctx.stderr.write(`warning: ${w}\n`);
  if (out) await writeFiles(out, generated.files, ctx);
  else ctx.stdout.write(printable(generated.files));
  return 0;
}
