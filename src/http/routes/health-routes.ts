import { Router } from 'express';
import type { StatusService } from '../../status/status-service.js';

/** Liveness and readiness; always open, for orchestrators. */
export function healthRoutes(status: StatusService): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  router.get('/readyz', async (_req, res) => {
    const ready = await status.ready();
    res.status(ready ? 200 : 503).json({ ready });
  });
  return router;
}
