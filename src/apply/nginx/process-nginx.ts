import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../../log.js';
import type { Clock } from '../../util/clock.js';
import { findRecordedProcess, writeProcessRecord } from '../runtime/process/process-record.js';
import { procChildren } from './nginx-workers.js';
import { reapStaleProcess } from '../runtime/process/stale-process.js';
import { createSupervisedProcess, type SupervisedProcess } from '../runtime/process/supervisor.js';
import { packageRoot } from '../../util/package-root.js';
import type { NginxDriver } from './nginx-driver.js';
import { fileSize, readFrom } from './error-log.js';
import { detectAcceptSupport } from './nginx-features.js';
import { nginxEnv } from './nginx-env.js';
import type { NginxPaths } from './nginx-view.js';
import { resolveWorkerUser } from './worker-user.js';

const execFileAsync = promisify(execFile);

export interface ProcessNginxOptions {
  binary: string;
  dataDir: string;
  clock: Clock;
  logger: Logger;
  /** Told when nginx exits on its own (it is restarted with backoff). */
  onCrash?: (message: string) => void;
  /** Directory under dataDir: `nginx` for the router, `egress-nginx` for the caches' egress. */
  subdir?: string;
  /**
   * On stop, how long requests in flight may finish (SIGQUIT, nginx's graceful shutdown) before the
   * fast shutdown (SIGTERM). Default ROUTER_DRAIN_MS.
   */
  drainMs?: number;
}

/**
 * The router's drain on stop: a blob download that is under way gets this long to finish. With the
 * SIGTERM grace after it, it stays well under the daemon's 9 s forced exit and docker stop's 10 s,
 * leaving time for the caches and the egress to stop after it.
 */
export const ROUTER_DRAIN_MS = 4000;

/** Where a process nginx keeps its files: everything under dataDir/<subdir> (dataDir/nginx for the router). */
export function processNginxPaths(dataDir: string, subdir = 'nginx'): NginxPaths & { prefix: string } {
  const prefix = path.join(dataDir, subdir);
  return {
    prefix,
    pid: path.join(prefix, 'nginx.pid'),
    errorLog: path.join(prefix, 'logs', 'error.log'),
    accessLog: path.join(prefix, 'logs', 'access.log'),
    temp: path.join(prefix, 'temp'),
    cache: path.join(prefix, 'cache'),
  };
}

/** nginx as a supervised child process with its prefix, logs and temp files under dataDir/nginx. */
export function createProcessNginx(opts: ProcessNginxOptions): NginxDriver {
  const name = opts.subdir ?? 'nginx';
  const { prefix, ...paths } = processNginxPaths(opts.dataDir, name);
  const configFile = path.join(prefix, 'nginx.conf');
  const errorLog = paths.errorLog;
  const baseArgs = ['-p', prefix + '/', '-e', errorLog];
  const env = nginxEnv(process.env);
  const log = opts.logger.child({ component: name });
  let supervised: SupervisedProcess | null = null;
  let lastFallbackReason: string | null = null;
  // pid and start time of the master we started, so a restarted daemon can adopt it (see adopt()).
  const recordFile = path.join(prefix, 'master.json');

  const supervise = () =>
    (supervised ??= createSupervisedProcess({
      name,
      command: opts.binary,
      args: [...baseArgs, '-c', configFile, '-g', 'daemon off;'],
      env,
      logFile: path.join(prefix, 'logs', 'stderr.log'),
      clock: opts.clock,
      logger: log,
      onStart: (pid) => void writeProcessRecord(recordFile, pid).catch(() => undefined),
      onExit: ({ code, signal, willRestart }) => {
        if (willRestart) opts.onCrash?.(`${name} exited (${signal ?? `code ${code}`}); restarting`);
      },
    }));

  const ensureDirs = async () => {
    for (const sub of ['logs', 'cache', 'temp/client_body', 'temp/proxy', 'temp/fastcgi', 'temp/uwsgi', 'temp/scgi']) {
      await mkdir(path.join(prefix, sub), { recursive: true });
    }
  };

  return {
    kind: 'process',
    configFile,
    candidateFile: path.join(prefix, 'nginx.conf.candidate'),
    paths,
    async workerUser(configured) {
      await ensureDirs();
      const decision = await resolveWorkerUser(configured, prefix);
      if (decision.kind === 'error') throw new Error(decision.message);
      if (decision.kind === 'root-fallback' && decision.reason !== lastFallbackReason) {
        log.warn({ reason: decision.reason }, 'nginx workers run as root: set nginx.user to a user that can reach dataDir for unprivileged workers');
      }
      lastFallbackReason = decision.kind === 'root-fallback' ? decision.reason : null;
      return decision.directive;
    },
    acceptSupport: () => detectAcceptSupport(opts.binary, path.join(packageRoot(), 'nginx', 'accept.js')),
    async test(file) {
      await ensureDirs();
      try {
        const { stdout, stderr } = await execFileAsync(opts.binary, [...baseArgs, '-t', '-q', '-c', file, '-g', 'daemon off;'], { env });
        return { ok: true, output: (stdout + stderr).trim() };
      } catch (err) {
        const e = err as { stderr?: string; stdout?: string; message: string };
        return { ok: false, output: ((e.stderr ?? '') + (e.stdout ?? '')).trim() || e.message };
      }
    },
    async startOrReload() {
      if (supervised?.running) {
        supervised.signal('SIGHUP');
        return;
      }
      await ensureDirs();
      if (!supervised) {
        // A daemon killed with -9 leaves nginx holding the port; it is ours to replace.
        if (await reapStaleProcess(paths.pid, configFile)) log.warn('killed an nginx left behind by an earlier run');
      }
      supervise().start();
    },
    async adopt() {
      if (supervised?.running) return true;
      const record = await findRecordedProcess(recordFile, configFile);
      if (!record) return false;
      supervise().adopt(record.pid, record.start);
      log.info({ pid: record.pid }, 'adopted a running nginx from an earlier run');
      return true;
    },
    errorLogSize: () => fileSize(errorLog),
    errorLogSince: (offset) => readFrom(errorLog, offset),
    async reopenLogs() {
      supervised?.signal('SIGUSR1');
    },
    async workers() {
      const master = supervised?.pid;
      return master ? procChildren(master) : [];
    },
    async stop() {
      // SIGQUIT lets the workers finish their requests (new connections are refused at once); one
      // that is still busy after the drain gets SIGTERM, nginx's fast shutdown, then SIGKILL.
      await supervised?.stop(1000, { signal: 'SIGQUIT', ms: opts.drainMs ?? ROUTER_DRAIN_MS });
    },
    state() {
      return {
        running: supervised?.running ?? false,
        pid: supervised?.pid ?? null,
        restarts: supervised?.restarts ?? 0,
        lastError: supervised?.lastError ?? null,
      };
    },
  };
}
