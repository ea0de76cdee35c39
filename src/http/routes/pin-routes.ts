import express, { Router, type ErrorRequestHandler } from 'express';
import type { Pins } from '../../pin/pins.js';

/**
 * /api/v1/pins: images whose content is never evicted. A pin is a resource named by its id
 * (from GET or the POST's answer); POST the same image again to change its platforms.
 */
export function pinRoutes(deps: { pins: Pins; pinnedOver?: () => ReadonlyMap<string, number> }): Router {
  const router = Router();
  router.get('/pins', (_req, res) => {
    res.json({ pins: deps.pins.list(), totals: deps.pins.totals(), overMaxSize: Object.fromEntries(deps.pinnedOver?.() ?? []) });
  });
  // Writes answer once the pins file has them: a pin acknowledged survives a restart.
  router.post('/pins', express.json({ limit: '16kb', type: () => true }), async (req, res) => {
    const body = req.body as unknown;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      res.status(400).json({ error: 'body must be a JSON object: {"image": "docker.io/library/alpine:3.19", "platforms": ["linux/amd64"]}' });
      return;
    }
    const { image, platforms, ...rest } = body as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) {
      res.status(400).json({ error: `${unknown[0]}: unknown key`, problems: unknown.map((k) => ({ path: k, message: 'unknown key' })) });
      return;
    }
    const added = deps.pins.add({ image, platforms });
    if ('problems' in added) {
      const p = added.problems[0]!;
      res.status(p.path === '' ? 503 : 400).json({ error: p.path ? `${p.path}: ${p.message}` : p.message, problems: added.problems });
      return;
    }
    await deps.pins.flush();
    res.status(202).location(`/api/v1/pins/${added.pin.id}`).json(added);
  });
  router.get('/pins/:id', (req, res) => {
    const pin = deps.pins.get(req.params.id);
    if (!pin) res.status(404).json({ error: `no pin ${req.params.id}` });
    else res.json(pin);
  });
  router.delete('/pins/:id', async (req, res) => {
    const result = deps.pins.remove(req.params.id);
    await deps.pins.flush();
    if (result === 'unknown') res.status(404).json({ error: `no pin ${req.params.id}` });
    else if (result === 'config')
      res.status(409).json({ error: `pin ${req.params.id} comes from the config: remove pin: true from its warm.images entry` });
    else res.json({ removed: req.params.id });
  });
  const bodyErrors: ErrorRequestHandler = (err: { type?: string }, _req, res, next) => {
    if (err?.type === 'entity.parse.failed') res.status(400).json({ error: 'body is not valid JSON' });
    else if (err?.type === 'entity.too.large') res.status(413).json({ error: 'body larger than 16 KiB' });
    else next(err);
  };
  router.use(bodyErrors);
  return router;
}
