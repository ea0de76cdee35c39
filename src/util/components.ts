/** A long-lived part of the daemon. start() may be absent: made live by building it, or by a pass. */
export interface Component {
  name: string;
  start?(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/**
 * Starts the components in list order and returns the one function that stops them, newest first.
 * A start that fails stops what already started (with that same function) and rethrows. Stopping
 * carries on past a failing stop, so nothing outlives the daemon, and then throws the first error.
 */
export async function startComponents(components: readonly Component[]): Promise<() => Promise<void>> {
  const started: Component[] = [];
  const stopStarted = async () => {
    let failed: { err: unknown } | null = null;
    for (let c = started.pop(); c; c = started.pop()) {
      try {
        await c.stop();
      } catch (err) {
        failed ??= { err };
      }
    }
    if (failed) throw failed.err;
  };
  for (const c of components) {
    try {
      await c.start?.();
    } catch (err) {
      await stopStarted().catch(() => undefined);
      throw err;
    }
    started.push(c);
  }
  return stopStarted;
}
