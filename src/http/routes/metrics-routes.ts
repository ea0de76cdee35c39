import { Router } from 'express';
import type { PrometheusMetrics } from '../../status/metrics/prometheus-metrics.js';

/** GET /metrics in Prometheus text format. */
export function metricsRoutes(metrics: PrometheusMetrics): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const body = await metrics.render();
    res.set('Content-Type', metrics.contentType).set('Cache-Control', 'no-store').send(body);
  });
  return router;
}
