import { describe, expect, it } from 'vitest';
import { LABEL, type DockerRuntimeSettings } from '../../../src/apply/runtime/docker/cache-container.js';
import { createDockerRuntime } from '../../../src/apply/runtime/docker/docker-runtime.js';
import type { RuntimeEvent } from '../../../src/apply/runtime/cache-runtime.js';
import type { PortBook } from '../../../src/apply/runtime/port-book.js';
import { cacheSpec } from '../../helpers/cache-spec.js';
import { createLogger } from '../../../src/log.js';
import { createFakeClock } from '../../helpers/fake-clock.js';
import { createFakeDockerApi } from '../../helpers/fake-docker-api.js';

const settings: DockerRuntimeSettings = { image: 'registry:2', network: 'registry-cache', addressing: 'name', instance: 'unit' };
const spec = cacheSpec();
const noPorts: PortBook = {
  portsFor: () => Promise.reject(new Error('bridge networking needs no ports')),
  egressPortFor: () => Promise.reject(new Error('bridge networking needs no ports')),
  release: async () => undefined,
};

function setup(opts: { down?: boolean } = {}) {
  const clock = createFakeClock();
  const api = createFakeDockerApi();
  if (opts.down) api.goDown();
  const events: RuntimeEvent[] = [];
  const runtime = createDockerRuntime({
    api,
    settings,
    ports: noPorts,
    clock,
    logger: createLogger({ level: 'silent' }),
    endpoint: 'unix:///fake.sock',
    // Far away, so a test sees only the recovery it is about.
    resyncMs: 1_000_000,
    recoverAfterMs: 2000,
    reconnectBaseMs: 1000,
  });
  runtime.onEvent((e) => events.push(e));
  const own = () => [...api.containers.values()].filter((c) => c.labels[LABEL.vhost] === spec.name);
  const starts = () => api.calls.filter((c) => c.startsWith('startContainer')).length;
  const creates = () => api.calls.filter((c) => c.startsWith('createContainer')).length;
  return { clock, api, events, runtime, own, starts, creates };
}

describe('docker runtime (fake engine, fake clock)', () => {
  it('retries an unreachable engine with doubling delays and resets the backoff once it answers', async () => {
    const { clock, api, events, runtime } = setup({ down: true });
    await clock.advance(0);
    expect(api.subscribeCalls).toBe(1);
    await clock.advance(999);
    expect(api.subscribeCalls).toBe(1);
    await clock.advance(1); // t=1000: first retry after 1 s
    expect(api.subscribeCalls).toBe(2);
    await clock.advance(1999);
    expect(api.subscribeCalls).toBe(2);
    await clock.advance(1); // t=3000: then 2 s
    expect(api.subscribeCalls).toBe(3);
    await clock.advance(4000); // t=7000: then 4 s
    expect(api.subscribeCalls).toBe(4);
    // One error event for the outage, not one per attempt.
    expect(events.filter((e) => e.kind === 'error')).toHaveLength(1);
    expect(events[0]!.message).toContain('Docker unreachable at unix:///fake.sock');

    api.comeBack();
    await clock.advance(8000); // t=15000: the next attempt connects
    expect(api.subscribeCalls).toBe(5);
    expect(api.streams()).toBe(1);
    expect(events.at(-1)).toMatchObject({ kind: 'restarted', message: 'Docker reachable again at unix:///fake.sock' });

    // A fresh outage starts again at 1 s.
    api.goDown();
    await clock.advance(1000);
    expect(api.subscribeCalls).toBe(6);
    await runtime.stop();
  });

  it('re-lists after a reconnect and recreates a cache removed while the engine was away', async () => {
    const { clock, api, runtime, own, creates } = setup();
    await clock.advance(0);
    await runtime.ensure(spec);
    expect(own()).toHaveLength(1);
    expect(creates()).toBe(1);

    api.goDown();
    // Removed while no event stream was open: the runtime never hears of it.
    api.containers.clear();
    api.comeBack();
    expect(creates()).toBe(1);
    await clock.advance(1000);
    expect(api.streams()).toBe(1);
    expect(creates()).toBe(2);
    expect(own()).toHaveLength(1);
    expect(own()[0]!.status).toBe('running');
    await runtime.stop();
  });

  it('starts a cache container that died and that Docker did not restart, and counts the restart', async () => {
    const { clock, api, events, runtime, own, starts } = setup();
    await clock.advance(0);
    const first = await runtime.ensure(spec);
    expect(first.restarts).toBe(0);
    const id = own()[0]!.id;
    const startsBefore = starts();

    api.exit(id);
    expect(events.at(-1)).toMatchObject({ kind: 'exited', name: 'docker.io' });
    expect((await runtime.list())[0]).toMatchObject({ state: 'crashed' });
    // Docker's restart policy gets recoverAfterMs first.
    await clock.advance(1999);
    expect(starts()).toBe(startsBefore);
    await clock.advance(1);
    expect(starts()).toBe(startsBefore + 1);
    expect(own()[0]).toMatchObject({ id, status: 'running' });
    expect(events.at(-1)).toMatchObject({ kind: 'restarted', name: 'docker.io' });
    expect((await runtime.list())[0]).toMatchObject({ state: 'running', restarts: 1, lastError: null });
    await runtime.stop();
  });

  it('recreates a cache container removed outside regcache at once', async () => {
    const { clock, api, runtime, own, creates } = setup();
    await clock.advance(0);
    await runtime.ensure(spec);
    api.destroy(own()[0]!.id);
    await clock.advance(0);
    expect(creates()).toBe(2);
    expect(own()).toHaveLength(1);
    expect((await runtime.list())[0]!.restarts).toBe(1);
    await runtime.stop();
  });

  it('stop() cancels the recovery a die just before shutdown armed, and every other timer', async () => {
    const { clock, api, runtime, own, starts, creates } = setup();
    await clock.advance(0);
    await runtime.ensure(spec);
    const id = own()[0]!.id;
    const startsBefore = starts();
    api.exit(id);
    await runtime.stop();
    expect(clock.pending()).toBe(0);
    await clock.advance(60_000);
    expect(starts()).toBe(startsBefore);
    expect(creates()).toBe(1);
    expect(own()[0]!.status).toBe('exited');
    // Events after close change nothing either.
    api.destroy(id);
    await clock.advance(10_000);
    expect(creates()).toBe(1);
  });

  it('stop() while reconnecting leaves no timer and no open event stream', async () => {
    const { clock, api, runtime } = setup({ down: true });
    await clock.advance(0);
    expect(clock.pending()).toBeGreaterThan(0);
    await runtime.stop();
    expect(clock.pending()).toBe(0);
    api.comeBack();
    await clock.advance(60_000);
    expect(api.subscribeCalls).toBe(1);
    expect(api.streams()).toBe(0);
  });

  it('stop() during a subscribe that has not answered yet closes the stream when it arrives', async () => {
    const clockless = createFakeDockerApi();
    const release = clockless.holdNextSubscribe();
    const clock = createFakeClock();
    const runtime = createDockerRuntime({
      api: clockless,
      settings,
      ports: noPorts,
      clock,
      logger: createLogger({ level: 'silent' }),
      endpoint: 'fake',
    });
    await clock.advance(0);
    const closing = runtime.stop();
    release();
    await closing;
    await clock.advance(0);
    expect(clockless.subscribeCalls).toBe(1);
    expect(clockless.streams()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('forgets the ids it stopped itself after a while, and stop() cancels that too', async () => {
    const { clock, api, runtime, own } = setup();
    await clock.advance(0);
    await runtime.ensure(spec);
    await runtime.remove(spec.name);
    expect(own()).toHaveLength(0);
    // The expected-event timer (10 s) is pending; close must clear it.
    expect(clock.pending()).toBeGreaterThan(1);
    await runtime.stop();
    expect(clock.pending()).toBe(0);
    expect(api.calls.filter((c) => c.startsWith('removeContainer'))).toHaveLength(1);
  });
});
