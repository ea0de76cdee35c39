import { Router } from 'express';
import type { Pins } from '../../pin/pins.js';
import { jsonBody, jsonBodyErrors, objectBody, sendProblems } from './json-body.js';

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
  router.post('/pins', jsonBody(16), async (req, res) => {
    const body = objectBody(req.body, ['image', 'platforms'], '{"image": "docker.io/library/alpine:3.19", "platforms": ["linux/amd64"]}', res);
    if (!body) return;
    const added = deps.pins.add({ image: body.image, platforms: body.platforms });
    if ('problems' in added) {
      sendProblems(res, added.problems);
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
  router.use(jsonBodyErrors(16));
  return router;
}
