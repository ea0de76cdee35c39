import { Router } from 'express';
import type { ReconcileResult } from '../../apply/reconciler.js';
import { SHA256_DIGEST } from '../../integrity/cache-layers.js';
import type { PurgeResult } from '../../integrity/integrity-service.js';
import type { EventLog } from '../../state/event-log.js';
import type { StatusService } from '../../status/status-service.js';

/** /api/v1: vhosts, status, events, reload, purge. */
export function vhostRoutes(deps: {
  status: StatusService;
  events: EventLog;
  reload: () => Promise<ReconcileResult>;
  /** Removes a digest from every cache layer of a vhost; absent: purging is not offered. */
  purge?: (name: string, digest: string) => Promise<PurgeResult>;
}): Router {
  const router = Router();
  router.get('/vhosts', async (_req, res) => {
    res.json({ vhosts: await deps.status.vhosts() });
  });
  router.get('/vhosts/:name', async (req, res) => {
    const vhost = (await deps.status.vhosts()).find((v) => v.name === req.params.name);
    if (!vhost) {
      res.status(404).json({ error: `no vhost named ${req.params.name}` });
      return;
    }
    res.json(vhost);
  });
  router.delete('/vhosts/:name/cache/:digest', async (req, res) => {
    const { name, digest } = req.params;
    if (!deps.purge) {
      res.status(501).json({ error: 'purging is not available in this daemon' });
      return;
    }
    if (!SHA256_DIGEST.test(digest)) {
      res.status(400).json({ error: `digest: must be sha256: followed by 64 lower-case hex digits (got ${JSON.stringify(digest.slice(0, 100))})` });
      return;
    }
    if (!(await deps.status.vhosts()).some((v) => v.name === name)) {
      res.status(404).json({ error: `no vhost named ${name}` });
      return;
    }
    res.json(await deps.purge(name, digest));
  });
  router.get('/status', async (_req, res) => {
    res.json(await deps.status.status());
  });
  router.get('/events', (req, res) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit) || 100));
    res.json({ events: deps.events.list(limit) });
  });
  router.post('/reload', async (_req, res) => {
    const result = await deps.reload();
    const code = result.outcome === 'rejected' ? 422 : result.outcome === 'failed' ? 500 : 200;
    res.status(code).json(result);
  });
  return router;
}
