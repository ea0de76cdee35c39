import express, { type ErrorRequestHandler, type Express } from 'express';
import type { ReconcileResult } from '../apply/reconciler.js';
import type { Logger } from '../log.js';
import type { EventLog } from '../state/event-log.js';
import type { PrometheusMetrics } from '../status/metrics/prometheus-metrics.js';
import type { StatusService } from '../status/status-service.js';
import type { RegcacheConfig } from '../config/model.js';
import { clientRoutes } from './routes/client-routes.js';
import { adminGuard, securityHeaders, type AdminGuardOptions } from './admin-guard.js';
import { healthRoutes } from './routes/health-routes.js';
import { requestOriginGuard } from './request-origin.js';
import { metricsRoutes } from './routes/metrics-routes.js';
import { pageRoutes, type StatusPageDeps } from './routes/page-routes.js';
import { vhostRoutes } from './routes/vhost-routes.js';
import type { PurgeResult } from '../integrity/integrity-service.js';
import { warmRoutes } from './routes/warm-routes.js';
import type { WarmJobs } from '../warm/warm-jobs.js';
import type { Pins } from '../pin/pins.js';
import { pinRoutes } from './routes/pin-routes.js';

export interface AdminAppDeps {
  status: StatusService;
  events: EventLog;
  reload: () => Promise<ReconcileResult>;
  /** DELETE /api/v1/vhosts/:name/cache/:digest (src/integrity/). */
  purge?: (name: string, digest: string) => Promise<PurgeResult>;
  logger: Logger;
  /** The config nginx serves now; null before the first apply. */
  appliedConfig: () => RegcacheConfig | null;
  metrics: PrometheusMetrics;
  /** Warm jobs (POST/GET /api/v1/warm); absent: those routes answer 404. */
  warm?: WarmJobs;
  /** Pinned images (/api/v1/pins) and the registries whose pinned bytes alone exceed maxSize; absent: 404. */
  pins?: { pins: Pins; pinnedOver?: () => ReadonlyMap<string, number> };
  page: Omit<StatusPageDeps, 'status' | 'events'>;
  /** Bearer token and lockout for /api/ (and /metrics); without it the API is open. */
  guard?: AdminGuardOptions;
  /** Names besides addresses and localhost that may appear in Host (admin.hosts); none when absent. */
  hosts?: () => readonly string[];
  /** CSP hashes of the status page's inline scripts (see inlineScriptHashes). */
  inlineScriptHashes?: string[];
}

/** The admin API. Built without listening, so tests can drive it directly. Each route group lives in routes/. */
export function createAdminApp(deps: AdminAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(securityHeaders(deps.inlineScriptHashes));
  // Before the token: a rebound or cross-site request is refused whether or not a token is set.
  app.use(requestOriginGuard({ hosts: deps.hosts ?? (() => []) }));
  if (deps.guard) app.use(adminGuard(deps.guard));

  app.use(healthRoutes(deps.status));
  app.use('/api/v1', vhostRoutes(deps));
  app.use('/api/v1', clientRoutes(deps));
  if (deps.warm) app.use('/api/v1', warmRoutes({ warm: deps.warm }));
  if (deps.pins) app.use('/api/v1', pinRoutes(deps.pins));
  app.use(metricsRoutes(deps.metrics));
  app.use(pageRoutes({ ...deps.page, status: deps.status, events: deps.events }));

  app.use('/api', (req, res) => {
    res.status(404).json({ error: `no route ${req.method} ${req.originalUrl}` });
  });
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    deps.logger.error({ err: (err as Error).message, path: req.path }, 'admin API error');
    res.status(500).json({ error: 'internal error' });
  };
  app.use(onError);
  return app;
}
