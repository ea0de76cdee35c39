import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { DockerApi } from '../runtime/docker/docker-api.js';
import type { Logger } from '../../log.js';
import { errorMessage } from '../../util/errors.js';
import { FIRST_ACCEPT_LINE_ONLY } from './nginx-features.js';
import { fileSize, readFrom } from './error-log.js';
import type { NginxDriver, NginxProcessState } from './nginx-driver.js';

export interface ContainerNginxOptions {
  api: DockerApi;
  /** Name of the existing container running nginx. */
  container: string;
  /**
   * Directory regcache writes nginx.conf, logs and temp into. The nginx container mounts the same
   * directory at the same path, so every path in the config means the same file on both sides.
   */
  dir: string;
  logger: Logger;
}

/** nginx in a container that regcache does not create: config via a shared directory, `nginx -t` via exec, reload via SIGHUP. */
export function createContainerNginx(opts: ContainerNginxOptions): NginxDriver {
  const { api, container, dir } = opts;
  const log = opts.logger.child({ component: 'nginx', container });
  const configFile = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'logs', 'error.log');
  const paths = {
    pid: path.join(dir, 'nginx.pid'),
    errorLog,
    accessLog: path.join(dir, 'logs', 'access.log'),
    temp: path.join(dir, 'temp'),
    cache: path.join(dir, 'cache'),
  };
  let known: NginxProcessState = { running: false, pid: null, restarts: 0, lastError: null };

  const refresh = async (): Promise<boolean> => {
    try {
      const c = await api.inspectContainer(container);
      if (!c) {
        known = { ...known, running: false, lastError: `nginx container ${container} does not exist` };
        return false;
      }
      const running = c.status === 'running';
      known = { running, pid: null, restarts: c.restartCount ?? 0, lastError: running ? null : `nginx container ${container} is ${c.status}` };
      return running;
    } catch (err) {
      known = { ...known, running: false, lastError: `Docker: ${errorMessage(err)}` };
      return false;
    }
  };

  const ensureDirs = async () => {
    for (const sub of ['logs', 'cache', 'temp/client_body', 'temp/proxy', 'temp/fastcgi', 'temp/uwsgi', 'temp/scgi']) {
      // World-writable (chmod: mkdir's mode is masked): nginx workers in the container run as another user.
      await mkdir(path.join(dir, sub), { recursive: true });
      await chmod(path.join(dir, sub), 0o777);
    }
  };

  return {
    kind: 'container',
    configFile,
    candidateFile: path.join(dir, 'nginx.conf.candidate'),
    paths,
    async workerUser(configured) {
      // Users are the container's, not this host's: `nginx -t` inside the container checks the name.
      return configured;
    },
    async test(file) {
      await ensureDirs();
      if (!(await refresh())) {
        // nginx -t runs inside the container, so it must be up (a container waiting for its first config is).
        try {
          await api.startContainer(container);
        } catch (err) {
          return { ok: false, output: `cannot start nginx container ${container} to validate: ${errorMessage(err)}` };
        }
      }
      try {
        const result = await api.exec(container, ['nginx', '-t', '-q', '-p', `${dir}/`, '-e', errorLog, '-c', file, '-g', 'daemon off;']);
        return { ok: result.exitCode === 0, output: result.output.trim() };
      } catch (err) {
        return { ok: false, output: `nginx -t in container ${container} failed to run: ${errorMessage(err)}` };
      }
    },
    async startOrReload() {
      if (await refresh()) {
        await api.signalContainer(container, 'SIGHUP');
        log.debug('sent SIGHUP');
        return;
      }
      log.info('starting nginx container');
      await api.startContainer(container);
      await refresh();
    },
    // The njs script lives on regcache's side; the container's nginx keys tags by its first Accept line.
    acceptSupport: async () => FIRST_ACCEPT_LINE_ONLY,
    async reopenLogs() {
      // USR1 to PID 1 (the nginx master): reopen logs after rotation renamed them.
      if (await refresh()) await api.signalContainer(container, 'SIGUSR1');
    },
    async adopt() {
      // The container outlives the daemon: whatever it serves is checked by the generation probe.
      return refresh();
    },
    errorLogSize: () => fileSize(errorLog),
    errorLogSince: (offset) => readFrom(errorLog, offset),
    async stop() {
      // The container is not ours to stop: it keeps serving the last good config while regcache restarts.
    },
    state() {
      void refresh();
      return known;
    },
    async workers() {
      try {
        return (await api.processes(container)).map((p) => ({ pid: p.pid, title: p.command }));
      } catch {
        return null;
      }
    },
  };
}
