import { Router, type Response } from 'express';
import { parseClientOptions, parseK3dOptions, type ClientRequestInput } from '../../clients/client-request.js';
import { formatBaseUrl } from '../../clients/endpoint.js';
import { generateClientConfig } from '../../clients/generate.js';
import { CLIENT_KINDS, printable, type ClientKind } from '../../clients/generated.js';
import { k3dCommand } from '../../clients/k3d-command.js';
import type { RegcacheConfig } from '../../config/model.js';

const PARAMS: ReadonlyArray<keyof ClientRequestInput | 'format'> = [
  'mode',
  'endpoint',
  'caFile',
  'skipVerify',
  'cluster',
  'network',
  'registryConfig',
  'hostIp',
  'format',
];

function badRequest(res: Response, problems: Array<{ param: string; message: string }>): void {
  res.status(400).json({ error: problems.map((p) => `${p.param}: ${p.message}`).join('; ') });
}

/** Reads the query strictly: unknown or repeated parameters are errors that name the parameter. */
function readQuery(query: Record<string, unknown>): { input: ClientRequestInput; format: string } | Array<{ param: string; message: string }> {
  const problems: Array<{ param: string; message: string }> = [];
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (!PARAMS.includes(key as (typeof PARAMS)[number])) problems.push({ param: key, message: `unknown parameter; known: ${PARAMS.join(', ')}` });
    else if (typeof value !== 'string') problems.push({ param: key, message: 'give it once, as a plain value' });
    else values[key] = value;
  }
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'text') problems.push({ param: 'format', message: `must be json or text (got "${format}")` });
  if (problems.length > 0) return problems;
  const { format: _format, ...input } = values;
  return { input: input as ClientRequestInput, format };
}

/** /api/v1/clients: client configuration generated from the applied config (same as `regcache clients`). */
export function clientRoutes(deps: { appliedConfig: () => RegcacheConfig | null }): Router {
  const router = Router();

  router.get('/clients', (_req, res) => {
    res.json({ clients: [...CLIENT_KINDS, 'k3d'] });
  });

  router.get('/clients/:client', (req, res) => {
    const client = req.params.client;
    if (!(CLIENT_KINDS as readonly string[]).includes(client) && client !== 'k3d') {
      res.status(404).json({ error: `no client named ${client}; known: ${[...CLIENT_KINDS, 'k3d'].join(', ')}` });
      return;
    }
    const query = readQuery(req.query as Record<string, unknown>);
    if (Array.isArray(query)) return badRequest(res, query);
    const config = deps.appliedConfig();
    if (!config) {
      res.status(503).json({ error: 'no configuration applied yet' });
      return;
    }
    const options = parseClientOptions(config, query.input, client);
    if (!options.ok) return badRequest(res, options.problems);
    const endpoint = formatBaseUrl(options.value.base);

    if (client === 'k3d') {
      const k3d = parseK3dOptions(config, query.input, options.value);
      if (!k3d.ok) return badRequest(res, k3d.problems);
      const k3s = generateClientConfig('k3s', config, options.value);
      const command = k3dCommand(config, k3d.value);
      if (query.format === 'text') {
        res.type('text/plain').send(`${command}\n`);
        return;
      }
      res.json({ client, mode: options.value.mode, endpoint, command, files: k3s.files, warnings: k3s.warnings });
      return;
    }

    const generated = generateClientConfig(client as ClientKind, config, options.value);
    if (query.format === 'text') {
      res.type('text/plain').send(printable(generated.files));
      return;
    }
    res.json({ client, mode: options.value.mode, endpoint, files: generated.files, warnings: generated.warnings });
  });
  return router;
}
