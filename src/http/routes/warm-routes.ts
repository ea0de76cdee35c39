import express, { Router } from 'express';
import type { WarmJobs } from '../../warm/warm-jobs.js';

/** /api/v1/warm: start a warm job, follow its progress, list recent jobs. */
export function warmRoutes(deps: { warm: WarmJobs }): Router {
  const router = Router();
  router.post('/warm', express.json({ limit: '64kb', type: () => true }), (req, res) => {
    const body = req.body as unknown;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      res.status(400).json({ error: 'body must be a JSON object: {"images": ["docker.io/library/alpine:3.19"], "platforms": ["linux/amd64"]}' });
      return;
    }
    const { images, platforms, ...rest } = body as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) {
      res.status(400).json({ error: `${unknown[0]}: unknown key`, problems: unknown.map((k) => ({ path: k, message: 'unknown key' })) });
      return;
    }
    const started = deps.warm.start({ images: images as string[], platforms: platforms as string[] | undefined }, 'api');
    if ('problems' in started) {
      const p = started.problems[0]!;
      res.status(p.path === '' ? 503 : 400).json({ error: p.path ? `${p.path}: ${p.message}` : p.message, problems: started.problems });
      return;
    }
    res.status(202).location(`/api/v1/warm/${started.job.id}`).json(started.job);
  });
  router.get('/warm', (_req, res) => {
    res.json({ jobs: deps.warm.list() });
  });
  router.get('/warm/:id', (req, res) => {
    const job = deps.warm.get(req.params.id);
    if (!job) {
      res.status(404).json({ error: `no warm job ${req.params.id}` });
      return;
    }
    res.json(job);
  });
  return router;
}
