import type { RegcacheConfig } from '../../config/model.js';
import { egressPlan, egressWanted, mirrorPortKeys, NO_EGRESS, type EgressPlan, type EgressSystem } from '../../desired/egress-routes.js';
import type { Logger } from '../../log.js';
import type { DaemonState } from '../../state/daemon-state.js';
import type { EventLog } from '../../state/event-log.js';
import { candidateBytes } from '../nginx/candidate.js';
import type { NginxController } from '../nginx/nginx-controller.js';
import type { NginxPaths } from '../nginx/nginx-view.js';
import type { EgressNginxRenderer } from '../nginx/render.js';
import { dnsPolicy, NO_TRUST, type DnsPolicy } from './dns-filter.js';
import type { DnsFilterServer } from './dns-filter-server.js';
import { egressNginxView } from './egress-view.js';

/** The egress nginx (a second nginx process) and what it needs; absent: caches reach their upstreams directly. */
export interface EgressNginx {
  /** Caches share the egress nginx's loopback (process runtime, or Docker with host networking). */
  loopback: boolean;
  /** The machine's nameservers and CA bundle, read at each pass. */
  system: () => Promise<EgressSystem>;
  /** A persisted loopback port per cache. */
  portFor: (name: string) => Promise<number>;
  nginx: NginxController;
  paths: NginxPaths;
  render: EgressNginxRenderer;
  /** Loopback port that answers the egress nginx's generation probe. */
  controlPort: number;
  /** Resolves the nginx `user` directive (NginxDriver.workerUser). */
  workerUser: (configured: string | null) => Promise<string | null>;
  /** The njs module and nginx/egress.js; null when this nginx has no njs module. */
  egressJs: { module: string; script: string } | null;
  /** nginx's resolver: refuses names that resolve to internal addresses (dns-filter.ts); null: the nameservers directly. */
  dnsFilter: DnsFilterServer | null;
}

/** A new egress config (bytes null: stop the egress nginx), made of `inputs`; already through nginx -t. */
export interface EgressCandidate {
  inputs: string;
  /** What the DNS filter asks and allows while this config serves. */
  dns: { nameservers: string[]; policy: DnsPolicy };
  bytes: string | null;
  generation: number;
  caches: number;
}

export interface EgressRollback {
  what: string;
  run: () => Promise<void>;
}

/**
 * Everything egress for the reconciler, like the router's NginxController: which caches fetch through
 * nginx (plan), the candidate config checked by nginx -t (prepare), and going live with a way back (apply).
 * It owns the egress generation: one number, never reused, shown in state.egressGeneration while serving.
 */
export interface EgressController {
  /** An earlier daemon's egress nginx, still serving: adopt it and the generation it serves. */
  adopt(): Promise<void>;
  /** Which caches fetch through nginx; reasons a wanted egress cannot be had are logged once per change. */
  plan(config: RegcacheConfig): Promise<EgressPlan>;
  /**
   * What the egress nginx should serve, through nginx -t: null when nothing the egress config is made
   * of changed since it was applied. Nothing live changes; a rejected config throws NginxConfigRejected.
   */
  prepare(config: RegcacheConfig, plan: EgressPlan): Promise<EgressCandidate | null>;
  /** The egress nginx serves the candidate (started, reloaded, or stopped); returns how to undo that. */
  apply(candidate: EgressCandidate): Promise<EgressRollback>;
}

export function createEgressController(deps: {
  /** null: no egress nginx (nginx runs as a container); every plan is NO_EGRESS. */
  egress: EgressNginx | null;
  state: DaemonState;
  events: EventLog;
  logger: Logger;
}): EgressController {
  const { egress: e, state, events } = deps;
  const log = deps.logger.child({ component: 'egress' });
  /** The last generation number used (serving or not), so a restarted egress nginx never reuses one. */
  let generation = 0;
  let serving = false;
  /** What the egress config applied last was made of. */
  let inputs = '';
  let lastNotes = '';
  /** What the DNS filter serves with the applied egress config. */
  let dns: EgressCandidate['dns'] = { nameservers: [], policy: NO_TRUST };

  const publish = () => {
    state.egressGeneration = serving ? generation : 0;
  };

  return {
    async adopt() {
      const adopted = e ? await e.nginx.adopt() : null;
      if (adopted === null) return;
      generation = adopted;
      serving = true;
      publish();
      events.record({ kind: 'runtime', level: 'info', vhost: null, message: `adopted the running egress nginx (generation ${adopted})` });
    },

    async plan(config) {
      if (!e) return NO_EGRESS;
      const wanted = new Set(e.loopback ? egressWanted(config) : []);
      // One port per cache, and one per hop listener of a mirror list.
      const names = config.registries.filter((r) => wanted.has(r.name)).flatMap((r) => [r.name, ...mirrorPortKeys(r)]);
      const ports = new Map(await Promise.all(names.map(async (name) => [name, await e.portFor(name)] as const)));
      const plan = egressPlan({ config, ports, system: await e.system(), loopback: e.loopback });
      const notes = JSON.stringify(plan.notes);
      if (notes !== lastNotes) {
        lastNotes = notes;
        for (const note of plan.notes) {
          log.warn({ vhost: note.vhost }, note.message);
          events.record({ kind: 'config', level: 'warn', vhost: note.vhost, message: note.message });
        }
      }
      return plan;
    },

    async prepare(config, plan) {
      if (!e) return null;
      // Most passes change the router only: skip resolving the worker user and rendering when nothing
      // the egress config is made of changed since it was applied.
      // The redirect policy reads the allow-list and regcache's own listeners (never a redirect target).
      const ownListeners = [config.listen, config.admin.listen, config.tls?.listen ?? null];
      const made = JSON.stringify([
        [...plan.routes.values()],
        plan.resolvers,
        plan.caFile,
        plan.caMaterial,
        config.nginx,
        config.cache,
        config.egress.redirectAllow,
        config.egress.mirrorBackoffSeconds,
        ownListeners,
      ]);
      if (serving && made === inputs) return null;
      const user = await e.workerUser(config.nginx.user);
      const view = egressNginxView({
        config,
        plan,
        paths: e.paths,
        generation,
        controlPort: e.controlPort,
        user,
        egressJs: e.egressJs,
        dnsFilter: e.dnsFilter?.address ?? null,
      });
      const origins = [...plan.routes.values()].flatMap((r) => [r.origin, ...r.mirrors.map((m) => m.origin)]);
      const candidateDns = { nameservers: plan.resolvers, policy: dnsPolicy(origins, config.egress.redirectAllow) };
      if (!view) return serving ? { inputs: made, dns: candidateDns, bytes: null, generation: 0, caches: 0 } : null;
      const bytes = candidateBytes(e.nginx, (g) => e.render({ ...view, generation: g }), generation, serving);
      if (!bytes) {
        // What serves already is this rendering (e.g. adopted after a restart): the filter serves it too.
        inputs = made;
        dns = candidateDns;
        e.dnsFilter?.update(dns.nameservers, dns.policy);
        return null;
      }
      await e.nginx.test(bytes);
      return { inputs: made, dns: candidateDns, bytes, generation: generation + 1, caches: view.servers.length };
    },

    async apply(c) {
      const nginx = e!.nginx;
      const before = { bytes: nginx.applied(), generation, serving, inputs, dns };
      const back = async () => {
        inputs = before.inputs;
        dns = before.dns;
        e!.dnsFilter?.update(dns.nameservers, dns.policy);
        if (before.serving && before.bytes) {
          await nginx.apply(before.bytes, before.generation);
          generation = before.generation;
          serving = true;
        } else {
          await nginx.stop();
          serving = false;
        }
        publish();
      };
      if (!c.bytes) {
        await nginx.stop();
        serving = false;
        publish();
        inputs = c.inputs;
        events.record({ kind: 'reload', level: 'info', vhost: null, message: 'egress nginx stopped: no cache fetches through it' });
        return { what: 'egress nginx started again', run: back };
      }
      // New names resolve before the config that needs them serves.
      dns = c.dns;
      e!.dnsFilter?.update(dns.nameservers, dns.policy);
      await nginx.apply(c.bytes, c.generation);
      inputs = c.inputs;
      generation = c.generation;
      serving = true;
      publish();
      events.record({ kind: 'reload', level: 'info', vhost: null, message: `egress nginx serves generation ${c.generation} (${c.caches} caches)` });
      return { what: 'egress nginx back on its last good config', run: back };
    },
  };
}
