import type { RegcacheConfig } from '../../config/model.js';
import type { Logger } from '../../log.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import { findBinary } from '../../util/find-binary.js';
import type { CacheRuntime } from './cache-runtime.js';
import { instanceId } from './docker/cache-container.js';
import { describeEndpoint, dockerEndpoint, type DockerApi } from './docker/docker-api.js';
import { createDockerodeApi } from './docker/dockerode-api.js';
import { createDockerRuntime } from './docker/docker-runtime.js';
import type { PortBook } from './port-book.js';
import { createProcessRuntime } from './process/process-runtime.js';

export class StartupError extends Error {}

export interface RuntimeContext {
  config: RegcacheConfig;
  env: Readonly<Record<string, string | undefined>>;
  clock: Clock;
  logger: Logger;
  /** Loopback ports of caches and egress, persisted under dataDir; the daemon shares it with the reconciler. */
  ports: PortBook;
  /** Group of nginx's workers when the daemon runs as root (process runtime: who may reach the cache sockets). */
  workerGroup?: () => Promise<number | null>;
  /** The daemon's one Docker API client (see dockerApiFor); only asked when the runtime is docker or auto. */
  docker: DockerClient;
}

export interface DockerClient {
  api: DockerApi;
  /** Where it talks to, for messages. */
  endpoint: string;
}

/** The Docker API for this config (docker.socket, DOCKER_HOST, /var/run/docker.sock). */
export function dockerApiFor(config: RegcacheConfig, env: RuntimeContext['env']): DockerClient {
  const endpoint = dockerEndpoint(config.docker.socket, env);
  return { api: createDockerodeApi(endpoint), endpoint: describeEndpoint(endpoint) };
}

/** True when the Docker engine answers within a second. */
async function dockerAnswers(api: DockerApi, clock: Clock): Promise<boolean> {
  let timer: TimerHandle | null = null;
  const late = new Promise<false>((resolve) => (timer = clock.setTimeout(() => resolve(false), 1000)));
  try {
    return await Promise.race([api.ping().then(() => true as const), late]);
  } catch {
    return false;
  } finally {
    if (timer) clock.clearTimeout(timer);
  }
}

/** Builds the cache runtime the config asks for; `auto` is docker when its socket answers, else process. */
export async function selectRuntime(ctx: RuntimeContext): Promise<CacheRuntime> {
  const { config } = ctx;
  let choice = config.runtime;
  if (choice === 'auto') {
    choice = (await dockerAnswers(ctx.docker.api, ctx.clock)) ? 'docker' : 'process';
    ctx.logger.info({ runtime: choice }, 'runtime: auto chose');
  }
  if (choice === 'docker') {
    const { api, endpoint } = ctx.docker;
    try {
      await api.ping();
    } catch (err) {
      // Not fatal: the runtime retries with backoff; a first apply that needs Docker fails with this reason.
      ctx.logger.warn({ endpoint, err: errorMessage(err) }, 'Docker does not answer yet');
    }
    return createDockerRuntime({
      api,
      endpoint,
      // The same persisted book as the process runtime: a cache keeps its loopback port across runtimes.
      ports: ctx.ports,
      clock: ctx.clock,
      logger: ctx.logger,
      settings: {
        image: config.docker.image,
        network: config.docker.network,
        // A containerised nginx resolves cache containers by name; nginx on the host needs their IPs.
        addressing: config.nginx.container ? 'name' : 'ip',
        instance: instanceId(config.dataDir),
      },
    });
  }
  const registryBinary = findBinary(['registry', 'docker-registry'], ctx.env.REGCACHE_REGISTRY_BIN);
  if (!registryBinary) {
    throw new StartupError('registry binary not found: install Debian package docker-registry, put `registry` on PATH, or set REGCACHE_REGISTRY_BIN');
  }
  return createProcessRuntime({
    dataDir: config.dataDir,
    registryBinary,
    ports: ctx.ports,
    clock: ctx.clock,
    logger: ctx.logger,
    // A containerised nginx sees only dataDir/nginx: it reaches the caches on loopback ports.
    unixSockets: !config.nginx.container,
    workerGroup: ctx.workerGroup,
  });
}
