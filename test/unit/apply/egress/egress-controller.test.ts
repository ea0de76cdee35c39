import { describe, expect, it } from 'vitest';
import { createEgressController } from '../../../../src/apply/egress/egress-controller.js';
import type { DnsFilterServer } from '../../../../src/apply/egress/dns-filter-server.js';
import { NginxConfigRejected, type NginxController } from '../../../../src/apply/nginx/nginx-controller.js';
import { parseConfig } from '../../../../src/config/parse.js';
import { createLogger } from '../../../../src/log.js';
import { createDaemonState } from '../../../../src/state/daemon-state.js';
import { createEventLog } from '../../../../src/state/event-log.js';
import { createFakeClock } from '../../../helpers/fake-clock.js';

/** An egress nginx that records what it is told; `reject` fails nginx -t and apply. */
function fakeEgressNginx(opts: { adopt?: number; reject?: boolean } = {}) {
  let applied: string | null = null;
  const calls: string[] = [];
  const controller: NginxController = {
    apply: async (bytes, generation) => {
      calls.push(`apply ${generation}`);
      applied = bytes;
      return { changed: true };
    },
    test: async () => {
      calls.push('test');
      if (opts.reject) throw new NginxConfigRejected('nginx: [emerg] test rejection');
    },
    adopt: async () => {
      if (opts.adopt === undefined) return null;
      applied = `egress ${opts.adopt}\n127.0.0.1:41000 https://a.example`;
      return opts.adopt;
    },
    applied: () => applied,
    servedGeneration: async () => null,
    stop: async () => {
      calls.push('stop');
      applied = null;
    },
  };
  return { controller, calls };
}

/** A DNS filter that records what it is told to ask and allow. */
function fakeDnsFilter() {
  const updates: Array<{ nameservers: readonly string[]; names: string[] }> = [];
  const filter: DnsFilterServer = {
    address: '127.0.0.1:40998',
    update: (nameservers, policy) => updates.push({ nameservers, names: [...policy.trustedNames] }),
    start: async () => undefined,
    stop: async () => undefined,
  };
  return { filter, updates };
}

function setup(opts: { adopt?: number; reject?: boolean; withEgress?: boolean } = {}) {
  const nginx = fakeEgressNginx(opts);
  const dns = fakeDnsFilter();
  const state = createDaemonState('/srv/registries.yaml');
  const events = createEventLog(createFakeClock());
  const egress = createEgressController({
    egress:
      opts.withEgress === false
        ? null
        : {
            loopback: true,
            system: async () => ({ resolvers: ['10.0.0.2'], caFile: '/etc/ssl/certs/ca-certificates.crt' }),
            portFor: async () => 41000,
            nginx: nginx.controller,
            paths: { pid: '/ep', errorLog: '/ee', accessLog: '/ea', temp: '/et', cache: '/ec' },
            render: (view) => `egress ${view.generation}\n${view.servers.map((s) => `${s.listen} ${s.origin}`).join('\n')}`,
            controlPort: 40999,
            workerUser: async (configured) => configured,
            egressJs: null,
            dnsFilter: dns.filter,
          },
    state,
    events,
    logger: createLogger({ level: 'silent' }),
  });
  return { egress, nginx, state, events, dns };
}

const config = (registries: string) => {
  const r = parseConfig(`domain: example.com\nregistries:\n${registries}`, { source: '/srv/registries.yaml', env: {} });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
};
const viaEgress = config('  docker.io:\n    upstream: https://a.example\n');
const direct = config('  docker.io:\n    upstream: https://a.example\n    egress: false\n');

describe('egress controller', () => {
  it('tests the candidate before anything goes live, and applies it as the next generation', async () => {
    const t = setup();
    const plan = await t.egress.plan(viaEgress);
    expect([...plan.routes.keys()]).toEqual(['docker.io']);
    const candidate = await t.egress.prepare(viaEgress, plan);
    expect(t.nginx.calls).toEqual(['test']);
    expect(t.state.egressGeneration).toBe(0);
    await t.egress.apply(candidate!);
    expect(t.nginx.calls).toEqual(['test', 'apply 1']);
    expect(t.state.egressGeneration).toBe(1);
    // Nothing the egress config is made of changed: no candidate, no nginx -t.
    expect(await t.egress.prepare(viaEgress, await t.egress.plan(viaEgress))).toBeNull();
    expect(t.nginx.calls).toEqual(['test', 'apply 1']);
  });

  it('the DNS filter asks the nameservers and trusts the upstream names of the config that serves, and goes back with it', async () => {
    const t = setup();
    await t.egress.apply((await t.egress.prepare(viaEgress, await t.egress.plan(viaEgress)))!);
    expect(t.dns.updates).toEqual([{ nameservers: ['10.0.0.2'], names: ['a.example'] }]);
    const other = config('  docker.io:\n    upstream: https://b.example\n');
    const rollback = await t.egress.apply((await t.egress.prepare(other, await t.egress.plan(other)))!);
    expect(t.dns.updates.at(-1)).toEqual({ nameservers: ['10.0.0.2'], names: ['b.example'] });
    await rollback.run();
    expect(t.dns.updates.at(-1)).toEqual({ nameservers: ['10.0.0.2'], names: ['a.example'] });
  });

  it('a rejected candidate throws from prepare and leaves the state as it was', async () => {
    const t = setup({ reject: true });
    await expect(t.egress.prepare(viaEgress, await t.egress.plan(viaEgress))).rejects.toBeInstanceOf(NginxConfigRejected);
    expect(t.nginx.calls).toEqual(['test']);
    expect(t.state.egressGeneration).toBe(0);
  });

  it('stops when no cache fetches through it, and never reuses a generation number when it starts again', async () => {
    const t = setup();
    await t.egress.apply((await t.egress.prepare(viaEgress, await t.egress.plan(viaEgress)))!);
    const stop = await t.egress.prepare(direct, await t.egress.plan(direct));
    expect(stop).toMatchObject({ bytes: null });
    await t.egress.apply(stop!);
    expect(t.state.egressGeneration).toBe(0);
    await t.egress.apply((await t.egress.prepare(viaEgress, await t.egress.plan(viaEgress)))!);
    expect(t.nginx.calls).toEqual(['test', 'apply 1', 'stop', 'test', 'apply 2']);
    expect(t.state.egressGeneration).toBe(2);
  });

  it('rolls back to the config and generation it served before', async () => {
    const t = setup();
    await t.egress.apply((await t.egress.prepare(viaEgress, await t.egress.plan(viaEgress)))!);
    const before = t.nginx.controller.applied();
    const moved = config('  docker.io:\n    upstream: https://b.example\n');
    const rollback = await t.egress.apply((await t.egress.prepare(moved, await t.egress.plan(moved)))!);
    expect(t.state.egressGeneration).toBe(2);
    await rollback.run();
    expect(t.nginx.controller.applied()).toBe(before);
    expect(t.state.egressGeneration).toBe(1);
    // The config it went back to is what it serves: the next pass with it changes nothing.
    expect(await t.egress.prepare(viaEgress, await t.egress.plan(viaEgress))).toBeNull();
  });

  it('adopts a running egress nginx and continues its generations', async () => {
    const t = setup({ adopt: 7 });
    await t.egress.adopt();
    expect(t.state.egressGeneration).toBe(7);
    expect(t.events.list().map((e) => e.message)).toContain('adopted the running egress nginx (generation 7)');
  });

  it('without an egress nginx every plan is direct and there is nothing to prepare', async () => {
    const t = setup({ withEgress: false });
    const plan = await t.egress.plan(viaEgress);
    expect(plan.routes.size).toBe(0);
    expect(await t.egress.prepare(viaEgress, plan)).toBeNull();
    await t.egress.adopt();
    expect(t.state.egressGeneration).toBe(0);
  });
});
