import type { NginxController } from '../apply/nginx/nginx-controller.js';
import type { NginxDriver } from '../apply/nginx/nginx-driver.js';
import type { CacheRuntime } from '../apply/runtime/cache-runtime.js';
import { redactedConfig } from './config-view.js';
import type { DaemonState } from './daemon-state.js';
import type { HealthMonitor } from './health-monitor.js';
import { vhostView, type VhostView } from './vhost-view.js';

export interface StatusService {
  vhosts(): Promise<VhostView[]>;
  status(): Promise<Record<string, unknown>>;
  /** nginx answers with the generation we last applied. */
  ready(): Promise<boolean>;
}

export function createStatusService(deps: {
  state: DaemonState;
  runtime: CacheRuntime;
  health: HealthMonitor;
  nginx: NginxController;
  nginxDriver: NginxDriver;
}): StatusService {
  const { state } = deps;
  const vhosts = async (): Promise<VhostView[]> => {
    const config = state.applied?.config;
    if (!config) return [];
    const instances = new Map((await deps.runtime.list()).map((i) => [i.name, i]));
    return config.registries.map((r) => vhostView(r, instances.get(r.name) ?? null, deps.health.health(r.name), state.routed.has(r.name)));
  };
  const ready = async () => state.generation > 0 && (await deps.nginx.servedGeneration()) === state.generation;
  return {
    vhosts,
    ready,
    async status() {
      const nginxState = deps.nginxDriver.state();
      return {
        generation: state.generation,
        ready: await ready(),
        config: state.applied
          ? { path: state.configPath, appliedAt: state.applied.appliedAt, applied: redactedConfig(state.applied.config) }
          : { path: state.configPath, appliedAt: null, applied: null },
        lastError: state.lastError,
        nginx: { kind: deps.nginxDriver.kind, ...nginxState, lastReload: state.lastReload },
        runtime: deps.runtime.kind,
        vhosts: await vhosts(),
      };
    },
  };
}
