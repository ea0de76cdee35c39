import { startDaemon, ConfigInvalidError, type Daemon } from '../daemon.js';
import { StartupError } from '../apply/runtime/select-runtime.js';
import { createLogger } from '../log.js';
import { createSystemClock } from '../util/clock.js';
import { TRIGGER } from '../scheduler/trigger-reasons.js';
import { configPathFrom, printProblems, type CommandContext } from './command-context.js';

/** `regcache run`: the daemon, until SIGTERM or SIGINT; SIGHUP re-reads the config (as nginx does). */
export async function runCommand(values: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const logger = createLogger();
  const configPath = configPathFrom(values, ctx.env);
  // A closed terminal or SSH session sends SIGHUP too: it must never stop the daemon, not while it
  // starts (the config is read then anyway) and not while it shuts down.
  let daemon: Daemon | null = null;
  let stopping = false;
  const onHangup = () => {
    if (!daemon || stopping) return;
    logger.info({ signal: 'SIGHUP' }, 're-reading the config');
    daemon.reload(TRIGGER.sighup).then(
      (r) => logger.info({ outcome: r.outcome, generation: r.generation }, 'SIGHUP reload done'),
      (err: unknown) => logger.warn({ err: (err as Error).message }, 'SIGHUP reload did not run'),
    );
  };
  process.on('SIGHUP', onHangup);
  try {
    daemon = await startDaemon({ configPath, env: ctx.env, clock: createSystemClock(), logger });
  } catch (err) {
    process.off('SIGHUP', onHangup);
    if (err instanceof ConfigInvalidError) {
      printProblems(ctx.stderr, err.problems);
      return 1;
    }
    if (err instanceof StartupError) {
      ctx.stderr.write(`regcache: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // The handlers stay while the daemon stops: a repeated signal (Ctrl-C reaches npx and the daemon
  // both, and npx forwards it) would otherwise find none and kill the process mid-stop, children left.
  let onStopSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const stopSignal = (signal: NodeJS.Signals) => onStopSignal(signal);
  process.on('SIGTERM', stopSignal);
  process.on('SIGINT', stopSignal);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    onStopSignal = resolve;
  });
  onStopSignal = (again) => logger.info({ signal: again }, 'already shutting down');
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const forced = setTimeout(() => {
    logger.error('shutdown took longer than 9 s; exiting');
    process.exit(1);
  }, 9000);
  await daemon.stop();
  clearTimeout(forced);
  process.off('SIGHUP', onHangup);
  process.off('SIGTERM', stopSignal);
  process.off('SIGINT', stopSignal);
  return 0;
}
