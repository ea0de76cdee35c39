import { Router } from 'express';
import type { WarmJobs } from '../../warm/warm-jobs.js';
import { jsonBody, jsonBodyErrors, objectBody, sendProblems } from './json-body.js';

/** /api/v1/warm: start a warm job, follow its progress, list recent jobs. */
export function warmRoutes(deps: { warm: WarmJobs }): Router {
  const router = Router();
  router.post('/warm', jsonBody(64), (req, res) => {
    const body = objectBody(req.body, ['images', 'platforms'], '{"images": ["docker.io/library/alpine:3.19"], "platforms": ["linux/amd64"]}', res);
    if (!body) return;
    const started = deps.warm.start({ images: body.images as string[], platforms: body.platforms as string[] | undefined }, 'api');
    if ('problems' in started) {
      sendProblems(res, started.problems);
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
  router.use(jsonBodyErrors(64));
  return router;
}
