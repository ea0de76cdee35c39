import { Router } from 'express';
import type { StatusService } from '../../status/status-service.js';

/** Liveness and readiness; always open, for orchestrators. */
export function healthRoutes(status: StatusService): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  router.get('/readyz', async (_req, res) => {
    // After a failed apply the last good generation still serves: ready, and lastError says what failed.
    const r = await status.readiness();
    res.status(r.ready ? 200 : 503).json(r);
  });
  return router;
}
