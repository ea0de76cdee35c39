import express, { type ErrorRequestHandler, type Express } from 'express';
import type { ReconcileResult } from '../apply/reconciler.js';
import type { Logger } from '../log.js';
import type { EventLog } from '../status/event-log.js';
import type { StatusService } from '../status/status-service.js';

export interface AdminAppDeps {
  status: StatusService;
  events: EventLog;
  reload: () => Promise<ReconcileResult>;
  logger: Logger;
}

/** The admin API. Built without listening, so tests can drive it directly. */
export function createAdminApp(deps: AdminAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/readyz', async (_req, res) => {
    const ready = await deps.status.ready();
    res.status(ready ? 200 : 503).json({ ready });
  });

  app.get('/api/v1/vhosts', async (_req, res) => {
    res.json({ vhosts: await deps.status.vhosts() });
  });
  app.get('/api/v1/vhosts/:name', async (req, res) => {
    const vhost = (await deps.status.vhosts()).find((v) => v.name === req.params.name);
    if (!vhost) {
      res.status(404).json({ error: `no vhost named ${req.params.name}` });
      return;
    }
    res.json(vhost);
  });
  app.get('/api/v1/status', async (_req, res) => {
    res.json(await deps.status.status());
  });
  app.get('/api/v1/events', (req, res) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit) || 100));
    res.json({ events: deps.events.list(limit) });
  });
  app.post('/api/v1/reload', async (_req, res) => {
    const result = await deps.reload();
    const status = result.outcome === 'rejected' ? 422 : result.outcome === 'failed' ? 500 : 200;
    res.status(status).json(result);
  });

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
