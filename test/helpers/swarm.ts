// A real multi-node Docker Swarm on this machine: each node is a container running its own dockerd
// (a nested engine) on a user-defined bridge network of ours (docker0 is not always there on test
// machines). The sandbox lacks CAP_SYS_RESOURCE, so --privileged fails; the flags below are the set
// that works: every capability but that one, no seccomp/AppArmor confinement, the host's cgroup tree
// with a cgroup parent per node, and /var/lib/docker on a volume per node (overlay2 cannot sit on the
// container's own overlay root).
//
// Cached per machine: the node image (built from Debian's packages when missing) and the image tars
// loaded into the nodes (one `docker save` per image id). The nodes, their volumes and the network
// live for one Swarm (one test file or one bench run) and go in teardown().
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary, waitFor } from './binaries.js';
import { docker, requireDocker, requireDockerEngine } from './registry-image.js';
import { logged, REPO_ROOT, withBuildLock } from '../integration/container/images.js';

export const SWARM_NODE_IMAGE = 'regcache-test/swarm-node:1';
const IMAGE_CACHE = '/var/tmp/regcache-swarm-images';

export interface SwarmOptions {
  /** Names the network, node containers and volumes (`<prefix>-net`, `<prefix>-node1`, …). */
  prefix?: string;
  nodes?: number;
  /** The node network is <subnet>.0/24: gateway .1 (this machine), node i at .(10 + i). */
  subnet?: string;
}

export interface SwarmNode {
  /** Container name on this machine; also the node's hostname in the Swarm. */
  name: string;
  /** The node's address on the node network (host-mode published ports answer here). */
  address: string;
  /** `docker ARGS` against the node's own engine; resolves to stdout. */
  docker(args: string[], opts?: { input?: string }): Promise<string>;
}

export interface Swarm {
  nodes: SwarmNode[];
  manager: SwarmNode;
  /** This machine's address on the node network: servers the nodes must reach bind here. */
  gateway: string;
  /** Milliseconds each setup step took (nodeImage, network, engines, swarm, load:<tag>). */
  timings: Record<string, number>;
  /** Makes `tag` (an image of this machine's engine) present on every node with the same id. */
  loadImage(tag: string): Promise<void>;
  /** Stops a node's container (its engine and every task on it), as a machine failure would. */
  stopNode(node: SwarmNode): Promise<void>;
  /** Starts a stopped node again; its engine rejoins the Swarm from the state on its volume. */
  startNode(node: SwarmNode): Promise<void>;
  /** Removes the node containers, their volumes and the network. Idempotent. */
  teardown(): Promise<void>;
}

async function timed<T>(timings: Record<string, number>, step: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    return await fn();
  } finally {
    timings[step] = Date.now() - start;
  }
}

async function imageExists(tag: string): Promise<boolean> {
  return docker(['image', 'inspect', '--format', '{{.Id}}', tag]).then(
    () => true,
    () => false,
  );
}

/** The node image: Debian with docker.io, from Debian's packages (nothing is pulled). Built once per machine. */
export async function ensureSwarmNodeImage(): Promise<string> {
  await requireDockerEngine();
  if (await imageExists(SWARM_NODE_IMAGE)) return SWARM_NODE_IMAGE;
  const mmdebstrap = requireBinary(['mmdebstrap']);
  const log = join(REPO_ROOT, 'test', 'artifacts', 'swarm-node-image.log');
  await mkdir(join(REPO_ROOT, 'test', 'artifacts'), { recursive: true });
  return withBuildLock(async () => {
    if (await imageExists(SWARM_NODE_IMAGE)) return SWARM_NODE_IMAGE;
    const work = await mkdtemp(join(tmpdir(), 'regcache-swarm-node-'));
    try {
      const rootfs = join(work, 'rootfs.tar');
      await logged(mmdebstrap, ['--variant=minbase', '--include=docker.io,iproute2,ca-certificates,curl', 'bookworm', rootfs], { log });
      await logged(requireDocker(), ['import', '--change', 'CMD ["dockerd"]', rootfs, SWARM_NODE_IMAGE], { log });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    return SWARM_NODE_IMAGE;
  }, 'regcache-swarm-node-image');
}

/** Runs `docker` on this machine with stdin from a file; throws with stderr. */
function dockerWithInput(args: string[], inputFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    void open(inputFile, 'r').then((handle) => {
      const child = spawn(requireDocker(), args, { stdio: [handle.fd, 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      child.once('error', (e) => void handle.close().then(() => reject(e)));
      child.once('close', (code) => {
        void handle
          .close()
          .then(() => (code === 0 ? resolve(out) : reject(new Error(`docker ${args.join(' ')} < ${inputFile} exited with ${code}: ${err.trim()}`))));
      });
    }, reject);
  });
}

/** `docker save` of an image id, kept per machine (the newest id of each tag) so later Swarms load it without saving again. */
async function savedImage(tag: string, id: string): Promise<string> {
  await mkdir(IMAGE_CACHE, { recursive: true });
  const prefix = `${tag.replace(/[^A-Za-z0-9._-]/g, '_')}@`;
  const file = join(IMAGE_CACHE, `${prefix}${id.replace(/^sha256:/, '').slice(0, 24)}.tar`);
  if (await stat(file).catch(() => null)) return file;
  const partial = `${file}.${process.pid}.partial`;
  await docker(['save', '-o', partial, tag]);
  await rename(partial, file);
  for (const old of await readdir(IMAGE_CACHE)) {
    if (old.startsWith(prefix) && old.endsWith('.tar') && join(IMAGE_CACHE, old) !== file) await rm(join(IMAGE_CACHE, old), { force: true });
  }
  return file;
}

function nodeHandle(name: string, address: string): SwarmNode {
  return { name, address, docker: (args, opts) => docker(['exec', ...(opts?.input !== undefined ? ['-i'] : []), name, 'docker', ...args], opts) };
}

async function removeLeftovers(prefix: string, count: number): Promise<void> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-node${i + 1}`);
  await docker(['rm', '-f', '-v', ...names]).catch(() => undefined);
  await docker(['volume', 'rm', '-f', ...names.map((n) => `${n}-docker`)]).catch(() => undefined);
  // The network goes once the engine has released the containers' endpoints.
  await waitFor(
    async () => {
      const left = (await docker(['network', 'ls', '-q', '--filter', `name=^${prefix}-net$`])).trim();
      if (left) await docker(['network', 'rm', `${prefix}-net`]);
      return true;
    },
    { timeoutMs: 20_000, intervalMs: 500, what: `network ${prefix}-net removed` },
  );
}

async function engineUp(node: SwarmNode): Promise<void> {
  await waitFor(async () => (await node.docker(['info', '--format', '{{.ServerVersion}}'])).trim() !== '', {
    timeoutMs: 60_000,
    intervalMs: 250,
    what: `the Docker engine in ${node.name}`,
  });
}

/** Three (or `nodes`) engines in one Swarm: node 1 is the manager, the others join as workers. */
export async function startSwarm(opts: SwarmOptions = {}): Promise<Swarm> {
  const prefix = opts.prefix ?? 'regcache-swarm';
  const count = opts.nodes ?? 3;
  const subnet = opts.subnet ?? '172.30.213';
  const timings: Record<string, number> = {};
  const network = `${prefix}-net`;
  const gateway = `${subnet}.1`;
  const nodes = Array.from({ length: count }, (_, i) => nodeHandle(`${prefix}-node${i + 1}`, `${subnet}.${11 + i}`));
  const image = await timed(timings, 'nodeImage', ensureSwarmNodeImage);
  await removeLeftovers(prefix, count);

  let torn = false;
  const swarm: Swarm = {
    nodes,
    manager: nodes[0]!,
    gateway,
    timings,
    async loadImage(tag) {
      await timed(timings, `load:${tag}`, async () => {
        const id = (await docker(['image', 'inspect', '--format', '{{.Id}}', tag])).trim();
        const file = await savedImage(tag, id);
        await Promise.all(
          nodes.map(async (node) => {
            const present = await node.docker(['image', 'inspect', '--format', '{{.Id}}', tag]).catch(() => '');
            if (present.trim() !== id) await dockerWithInput(['exec', '-i', node.name, 'docker', 'load', '-q'], file);
          }),
        );
      });
    },
    async stopNode(node) {
      await docker(['stop', '-t', '2', node.name]);
    },
    async startNode(node) {
      await docker(['start', node.name]);
      await engineUp(node);
    },
    async teardown() {
      if (torn) return;
      torn = true;
      await removeLeftovers(prefix, count);
    },
  };

  try {
    await timed(timings, 'network', () =>
      docker([
        'network',
        'create',
        '--driver',
        'bridge',
        '--subnet',
        `${subnet}.0/24`,
        '--gateway',
        gateway,
        '--label',
        'io.regcache.test=swarm',
        network,
      ]),
    );
    await timed(timings, 'engines', async () => {
      for (const [i, node] of nodes.entries()) {
        // prettier-ignore
        await docker([
          'run', '-d', '--name', node.name, '--hostname', node.name, '--label', 'io.regcache.test=swarm',
          '--network', network, '--ip', node.address,
          '--cap-add=ALL', '--cap-drop=SYS_RESOURCE',
          '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--security-opt', 'systempaths=unconfined',
          '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '--cgroupns=host',
          '--tmpfs', '/run', '--tmpfs', '/var/run',
          '-v', `${node.name}-docker:/var/lib/docker`,
          image, 'dockerd', `--cgroup-parent=/${prefix}-node${i + 1}`,
        ]);
      }
      await Promise.all(nodes.map(engineUp));
    });
    await timed(timings, 'swarm', async () => {
      const manager = nodes[0]!;
      await manager.docker(['swarm', 'init', '--advertise-addr', manager.address, '--listen-addr', `${manager.address}:2377`]);
      const token = (await manager.docker(['swarm', 'join-token', '-q', 'worker'])).trim();
      for (const node of nodes.slice(1)) {
        await node.docker(['swarm', 'join', '--token', token, '--advertise-addr', node.address, `${manager.address}:2377`]);
      }
      await waitFor(
        async () => {
          const states = (await manager.docker(['node', 'ls', '--format', '{{.Status}}'])).trim().split('\n');
          return states.length === count && states.every((s) => s === 'Ready');
        },
        { timeoutMs: 60_000, intervalMs: 500, what: `${count} Swarm nodes Ready` },
      );
    });
  } catch (err) {
    await swarm.teardown();
    throw err;
  }
  return swarm;
}
