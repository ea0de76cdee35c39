import { parseArgs } from 'node:util';
import { commands, type CommandContext } from './commands.js';

const USAGE = `usage: regcache <command> [options]

commands:
  run       --config FILE        run the daemon (watch the file, apply it live)
  validate  --config FILE        check the config; exit 1 with one line per problem
  render    --config FILE [--egress]
                                 print the nginx config that run would apply (--egress: the config
                                 of the egress nginx the caches fetch their upstreams through)
  clients   containerd|k3s|docker|k3d|podman --config FILE [--out DIR] [--mode vhost|single] [--endpoint URL]
                                 print (or write under DIR) client configuration for this cache;
                                 also --ca-file PATH, --skip-verify (https); k3d: --cluster, --network,
                                 --registry-config, --host-ip
  warm      --config FILE [--platform os/arch …] [--router URL] [IMAGE …]
                                 fetch images through the router so every cache layer holds them
                                 (no IMAGE: the config's warm list); exit 1 if any image failed
  status    [--admin URL]        print every vhost's health and numbers from a running daemon
                                 (default $REGCACHE_ADMIN_URL, else http://127.0.0.1:8080)
  purge     --config FILE <registry> <digest>
                                 drop a digest from every cache layer of a running daemon, so the
                                 next pull fetches it again

The config file is --config, else $REGCACHE_CONFIG, else ./registries.yaml.`;

/** Parses argv and dispatches; returns the exit code. Usage errors never print stack traces. */
export async function runCli(argv: string[], ctx: CommandContext): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    ctx.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    ctx.stderr.write(`regcache: unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: command.positionals === true, strict: true });
  } catch (err) {
    ctx.stderr.write(`regcache ${name}: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    return await command.run(parsed.values as Record<string, string | boolean | undefined>, ctx, parsed.positionals);
  } catch (err) {
    // A message, never a stack trace: whatever a command failed on may come from a hostile file.
    ctx.stderr.write(`regcache ${name}: ${err instanceof Error ? err.message.split('\n')[0]!.slice(0, 300) : 'failed'}\n`);
    return 1;
  }
}
