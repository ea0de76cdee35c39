/** What a load loop saw: attempts that passed, and the message of each that threw. */
export interface LoadLoop {
  ok(): number;
  stop(): Promise<{ ok: number; failures: string[] }>;
}

/** Runs `attempt` back to back in `workers` parallel loops until stopped; a throw counts as a failure. */
export function startLoadLoop(attempt: () => Promise<void>, workers = 3): LoadLoop {
  let running = true;
  const failures: string[] = [];
  let ok = 0;
  const loop = async () => {
    while (running) {
      try {
        await attempt();
        ok++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const loops = Array.from({ length: workers }, loop);
  return {
    ok: () => ok,
    async stop() {
      running = false;
      await Promise.all(loops);
      return { ok, failures };
    },
  };
}
