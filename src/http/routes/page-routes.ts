import { Router } from 'express';
import type { EventLog } from '../../state/event-log.js';
import type { ClientSnippet } from '../../status/page/client-snippets.js';
import type { StatusPageRenderer } from '../../status/page/render-status-page.js';
import { statusPageView, type PinsSummary, type WarmJobSummary } from '../../status/page/status-page-view.js';
import type { StatusService } from '../../status/status-service.js';

export interface StatusPageDeps {
  status: StatusService;
  events: EventLog;
  render: StatusPageRenderer;
  /** Client documents for the applied config (hand-written until src/clients/ exists). */
  snippets: () => ClientSnippet[];
  now: () => number;
  refreshSeconds?: number;
  /** Recent warm jobs, newest first. */
  warmJobs?: () => WarmJobSummary[];
  /** Pinned images and their totals. */
  pins?: () => PinsSummary;
}

/** GET / : the HTML status page. */
export function pageRoutes(deps: StatusPageDeps): Router {
  const router = Router();
  router.get('/', async (_req, res) => {
    const view = statusPageView({
      status: await deps.status.status(),
      events: deps.events.list(20),
      snippets: deps.snippets(),
      nowMs: deps.now(),
      refreshSeconds: deps.refreshSeconds ?? 5,
      warmJobs: deps.warmJobs?.() ?? [],
      pins: deps.pins?.(),
    });
    res.set('Cache-Control', 'no-store').type('html').send(deps.render(view));
  });
  return router;
}
