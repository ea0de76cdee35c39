import { describe, expect, it } from 'vitest';
import type { NginxController } from '../../../src/apply/nginx/nginx-controller.js';
import { createDaemonState } from '../../../src/state/daemon-state.js';
import { createStatusService } from '../../../src/status/status-service.js';

function readiness(served: number | null, generation: number) {
  const state = createDaemonState('/x.yaml');
  state.generation = generation;
  const nginx = { servedGeneration: async () => served } as unknown as NginxController;
  // ready() reads only the state and nginx; the other collaborators are never touched.
  const status = createStatusService({ state, nginx, runtime: null!, health: null!, nginxDriver: null!, observer: null! });
  return status.ready();
}

describe('readiness', () => {
  it('is false before the first apply and while nginx does not answer', async () => {
    expect(await readiness(null, 0)).toBe(false);
    expect(await readiness(null, 3)).toBe(false);
  });
  it('is true when nginx serves the applied generation, or the next one mid-reload', async () => {
    expect(await readiness(3, 3)).toBe(true);
    expect(await readiness(4, 3)).toBe(true);
  });
  it('is false when nginx serves an older generation', async () => {
    expect(await readiness(2, 3)).toBe(false);
  });
});
