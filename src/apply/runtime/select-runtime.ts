import type { RegcacheConfig } from '../../config/model.js';
import type { Logger } from '../../log.js';
import type { Clock } from '../../util/clock.js';
import { findBinary } from '../../util/find-binary.js';
import type { CacheRuntime } from './cache-runtime.js';
import { createProcessRuntime } from './process/process-runtime.js';

export class StartupError extends Error {}

export interface RuntimeContext {
  config: RegcacheConfig;
  env: Readonly<Record<string, string | undefined>>;
  clock: Clock;
  logger: Logger;
}

/** Builds the cache runtime the config asks for. */
export async function selectRuntime(ctx: RuntimeContext): Promise<CacheRuntime> {
  const choice = ctx.config.runtime;
  if (choice === 'docker') {
    throw new StartupError('runtime: docker is not available in this build; use runtime: process');
  }
  const registryBinary = findBinary(['registry', 'docker-registry'], ctx.env.REGCACHE_REGISTRY_BIN);
  if (!registryBinary) {
    throw new StartupError(
      'registry binary not found: install Debian package docker-registry, put `registry` on PATH, or set REGCACHE_REGISTRY_BIN',
    );
  }
  return createProcessRuntime({ dataDir: ctx.config.dataDir, registryBinary, clock: ctx.clock, logger: ctx.logger });
}
