import type { ContainerCreateSpec, ContainerSummary, DockerApi, DockerEvent, EventSubscription } from '../../src/apply/runtime/docker/docker-api.js';

/** What a test can do to the fake engine besides the calls the runtime makes. */
export interface FakeDockerApi extends DockerApi {
  containers: Map<string, ContainerSummary>;
  /** Every call, as `method arg`, in order. */
  calls: string[];
  subscribeCalls: number;
  /** Open event streams. */
  streams(): number;
  /** Engine unreachable: every call fails with ECONNREFUSED and open streams end. */
  goDown(): void;
  comeBack(): void;
  /** Delivers an event to every open stream. */
  emit(event: Omit<DockerEvent, 'name' | 'labels'> & { containerId: string }): void;
  /** As if `docker stop` / a crash: the container exits without the runtime asking. */
  exit(id: string): void;
  /** As if `docker rm -f` outside regcache. */
  destroy(id: string): void;
  /** The next subscribe call waits until the returned function is called. */
  holdNextSubscribe(): () => void;
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' });

/** An in-memory Docker engine behind the narrow DockerApi port: containers, events, outages. */
export function createFakeDockerApi(): FakeDockerApi {
  const containers = new Map<string, ContainerSummary>();
  const calls: string[] = [];
  const streams = new Set<{ onEvent: (e: DockerEvent) => void; onEnd: (err: Error | null) => void }>();
  let down = false;
  let nextId = 1;
  let subscribeCalls = 0;
  let hold: Promise<void> | null = null;

  const reachable = async (call: string) => {
    calls.push(call);
    if (down) throw refused();
  };
  const byNameOrId = (key: string) => containers.get(key) ?? [...containers.values()].find((c) => c.name === key) ?? null;
  const matches = (c: ContainerSummary, labels: string[] = []) =>
    labels.every((l) => {
      const [k, v] = l.split('=');
      return c.labels[k!] === v;
    });
  const event = (c: ContainerSummary, action: string, exitCode: number | null = null): DockerEvent => ({
    action,
    containerId: c.id,
    name: c.name,
    labels: c.labels,
    exitCode,
  });
  const deliver = (e: DockerEvent) => [...streams].forEach((s) => s.onEvent(e));

  const api: FakeDockerApi = {
    containers,
    calls,
    get subscribeCalls() {
      return subscribeCalls;
    },
    streams: () => streams.size,
    async ping() {
      await reachable('ping');
    },
    async listContainers(filter) {
      await reachable('listContainers');
      return [...containers.values()].filter((c) => matches(c, filter.labels) && (!filter.name || c.name === filter.name)).map((c) => ({ ...c }));
    },
    async inspectContainer(key) {
      await reachable(`inspectContainer ${key}`);
      const c = byNameOrId(key);
      return c ? { ...c } : null;
    },
    async createContainer(spec: ContainerCreateSpec) {
      await reachable(`createContainer ${spec.name}`);
      if (byNameOrId(spec.name)) throw Object.assign(new Error(`Conflict: ${spec.name}`), { statusCode: 409 });
      const id = `c${nextId++}`;
      containers.set(id, {
        id,
        name: spec.name,
        image: spec.image,
        labels: { ...spec.labels },
        status: 'created',
        networks: { [spec.network]: `172.20.0.${nextId}` },
      });
      return id;
    },
    async startContainer(id) {
      await reachable(`startContainer ${id}`);
      const c = containers.get(id);
      if (!c) throw Object.assign(new Error(`No such container: ${id}`), { statusCode: 404 });
      c.status = 'running';
      deliver(event(c, 'start'));
    },
    async stopContainer(id) {
      await reachable(`stopContainer ${id}`);
      const c = containers.get(id);
      if (!c) return;
      c.status = 'exited';
      deliver(event(c, 'die', 0));
    },
    async removeContainer(id) {
      await reachable(`removeContainer ${id}`);
      const c = containers.get(id);
      if (!c) return;
      containers.delete(id);
      deliver(event(c, 'destroy'));
    },
    async signalContainer(id, signal) {
      await reachable(`signalContainer ${id} ${signal}`);
    },
    async processes(id) {
      await reachable(`processes ${id}`);
      return [];
    },
    async exec(id) {
      await reachable(`exec ${id}`);
      return { exitCode: 0, output: '' };
    },
    async imageExists(ref) {
      await reachable(`imageExists ${ref}`);
      return true;
    },
    async pullImage(ref) {
      await reachable(`pullImage ${ref}`);
    },
    async ensureNetwork(name) {
      await reachable(`ensureNetwork ${name}`);
    },
    async ensureVolume(name) {
      await reachable(`ensureVolume ${name}`);
    },
    async volumeMountpoint(name) {
      await reachable(`volumeMountpoint ${name}`);
      return null;
    },
    async subscribe(_filter, onEvent, onEnd): Promise<EventSubscription> {
      subscribeCalls++;
      if (hold) await hold;
      await reachable('subscribe');
      const stream = { onEvent, onEnd };
      streams.add(stream);
      return {
        close() {
          streams.delete(stream);
        },
      };
    },
    goDown() {
      down = true;
      const open = [...streams];
      streams.clear();
      open.forEach((s) => s.onEnd(refused()));
    },
    comeBack() {
      down = false;
    },
    emit(e) {
      const c = containers.get(e.containerId);
      deliver({ ...e, name: c?.name ?? e.containerId, labels: c?.labels ?? {} });
    },
    exit(id) {
      const c = containers.get(id)!;
      c.status = 'exited';
      deliver(event(c, 'die', 137));
    },
    destroy(id) {
      const c = containers.get(id)!;
      containers.delete(id);
      deliver(event(c, 'destroy'));
    },
    holdNextSubscribe() {
      let release!: () => void;
      hold = new Promise<void>((r) => (release = r)).finally(() => (hold = null));
      return release;
    },
  };
  return api;
}
