import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { clusterMembership } from '../cluster/membership.js';
import type { RegcacheConfig } from '../config/model.js';
import { formatProblem } from '../config/problems.js';
import { readEgressSystem } from '../apply/egress/egress-system.js';
import { detectAcceptSupport } from '../apply/nginx/nginx-features.js';
import { findBinary } from '../util/find-binary.js';
import { packageRoot } from '../util/package-root.js';
import { egressNginxView } from '../apply/egress/egress-view.js';
import { nginxView } from '../apply/nginx/nginx-view.js';
import { egressPlan, egressWanted, mirrorPortKeys, sharesLoopback } from '../desired/egress-routes.js';
import { processNginxPaths } from '../apply/nginx/process-nginx.js';
import { portBookFile, readPortBook } from '../apply/runtime/port-book.js';
import { processRuntimePaths } from '../apply/runtime/process/process-runtime.js';
import { registrySlug } from '../config/parse.js';
import { createEgressNginxRenderer, createNginxRenderer, readNginxTemplates } from '../apply/nginx/render.js';
import { loadConfigOrReport, type CommandContext } from './command-context.js';

export async function validateCommand(values: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const read = await loadConfigOrReport(values, ctx);
  if (!read) return 1;
  const { file } = read;
  ctx.stdout.write(`${file}: ok (${read.loaded.config.registries.length} registries)\n`);
  // Valid but worth knowing before `run` (e.g. hosts the TLS certificate does not cover): not a failure.
  for (const w of read.loaded.config.warnings) ctx.stderr.write(`warning: ${formatProblem(w)}\n`);
  return 0;
}

/**
 * Prints the nginx config `run` would apply. Cache ports come from the port book `run` keeps
 * under dataDir; a cache that has never run has no port yet and is shown at a placeholder
 * port (said in a leading comment), so the output always passes `nginx -t`. With --egress it
 * prints the egress nginx's config instead (nothing, with a comment, when no cache uses egress).
 */
export async function renderCommand(values: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const read = await loadConfigOrReport(values, ctx);
  if (!read) return 1;
  const { config } = read.loaded;
  const known = await readPortBook(portBookFile(config.dataDir));
  const placeholders = config.registries.filter((r) => !known[r.name]?.port).map((r) => r.name);
  const backends = new Map(config.registries.map((r, i) => [r.name, `127.0.0.1:${known[r.name]?.port || 15000 + i}`]));
  if (values.egress) {
    const wantEgress = new Set(egressWanted(config));
    const egressPorts = new Map(
      config.registries
        .filter((r) => wantEgress.has(r.name))
        .flatMap((r) => [r.name, ...mirrorPortKeys(r)])
        .map((key, i) => [key, known[key]?.egressPort ?? 16000 + i]),
    );
    // `auto` is shown as the process runtime would run it.
    const loopback = sharesLoopback(config, config.runtime === 'docker' ? 'docker' : 'process');
    const egress = egressPlan({ config, ports: egressPorts, system: await readEgressSystem(), loopback });
    const { prefix: _egressPrefix, ...egressPaths } = processNginxPaths(config.dataDir, 'egress-nginx');
    const controlPort = known['.egress']?.egressPort ?? 17000;
    const egressView = egressNginxView({ config, plan: egress, paths: egressPaths, generation: 1, controlPort });
    for (const note of egress.notes) ctx.stdout.write(`# ${note.vhost ? `${note.vhost}: ` : ''}${note.message}\n`);
    ctx.stdout.write(egressView ? createEgressNginxRenderer(readNginxTemplates())(egressView) : '# no cache fetches through the egress nginx\n');
    return 0;
  }
  const { prefix: _prefix, ...paths } = processNginxPaths(config.dataDir);
  const nginxBinary = findBinary(['nginx'], ctx.env.REGCACHE_NGINX_BIN);
  const accept = nginxBinary ? await detectAcceptSupport(nginxBinary, path.join(packageRoot(), 'nginx', 'accept.js')) : undefined;
  // `auto` is shown as the process runtime would run it.
  const blobRoot = config.runtime === 'docker' ? undefined : (name: string) => processRuntimePaths(config.dataDir, registrySlug(name)).storage;
  const membership = await membershipNow(config);
  if (!membership.ok) {
    for (const p of membership.problems) ctx.stderr.write(`regcache render: ${formatProblem(p)}\n`);
    return 1;
  }
  const cluster = config.cluster && membership.value ? { config: config.cluster, membership: membership.value } : null;
  const view = nginxView({ config, backends, generation: 1, paths, accept, blobRoot, cluster });
  if (placeholders.length > 0) {
    // A few names per comment line: nginx refuses a line longer than its 4 KiB read buffer.
    ctx.stdout.write(`# placeholder ports (regcache run allocates them) for ${placeholders.length} registries:\n`);
    for (let i = 0; i < placeholders.length; i += 8) ctx.stdout.write(`#   ${placeholders.slice(i, i + 8).join(', ')}\n`);
  }
  ctx.stdout.write(createNginxRenderer(readNginxTemplates())(view));
  return 0;
}

/** The cluster's members as `run` would find them now: static peers, or what the dns: name answers. */
async function membershipNow(config: RegcacheConfig) {
  if (!config.cluster) return { ok: true as const, value: null };
  const peers = config.cluster.peers;
  const resolved =
    peers.kind === 'dns'
      ? await lookup(peers.name, { all: true }).then(
          (a) => a.map((x) => x.address),
          () => null,
        )
      : null;
  const ownAddresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  return clusterMembership({ cluster: config.cluster, resolved, ownAddresses });
}
