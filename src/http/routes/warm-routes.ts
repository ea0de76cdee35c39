import express, { Router, type ErrorRequestHandler } from 'express';
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
  // The body parser's own errors are the client's: malformed JSON 400, too large 413 (not the app's 500).
  const bodyErrors: ErrorRequestHandler = (err: { type?: string }, _req, res, next) => {
    if (err?.type === 'entity.parse.failed') res.status(400).json({ error: 'body is not valid JSON' });
    else if (err?.type === 'entity.too.large') res.status(413).json({ error: 'body larger than 64 KiB' });
    else next(err);
  };
  router.use(bodyErrors);
  return router;
}
