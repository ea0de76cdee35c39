import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.js';

export interface CachePorts {
  port: number;
  debugPort: number;
  /** Where nginx's egress for this cache listens (see egress: in the README). */
  egressPort?: number;
}

/**
 * Loopback ports per cache, persisted so a cache keeps its address across restarts of
 * the cache and of the daemon. A remembered port that is taken by someone else is replaced.
 */
export interface PortBook {
  portsFor(name: string): Promise<CachePorts>;
  /**
   * The egress port of a cache. A remembered one is kept without a check, because the nginx that
   * listens on it is ours; only a new one is picked free.
   */
  egressPortFor(name: string): Promise<number>;
  release(name: string): Promise<void>;
}

/** Where the book lives; both runtimes and `regcache render` read the same one. */
export function portBookFile(dataDir: string): string {
  return path.join(dataDir, 'state', 'ports.json');
}

/** The remembered ports, read-only; an absent or unreadable book is empty. */
export async function readPortBook(file: string): Promise<Record<string, CachePorts>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, CachePorts>;
  } catch {
    return {};
  }
}

/**
 * `reserved`: ports the config gives to nginx and the admin API. They may be in the ephemeral range
 * and not bound yet (the admin API listens after the first pass), so they are never handed out.
 */
export function createPortBook(file: string, host = '127.0.0.1', reserved: () => Iterable<number> = () => []): PortBook {
  let book: Record<string, CachePorts> | null = null;
  const load = async () => (book ??= await readPortBook(file));
  const save = async () => writeFileAtomic(file, JSON.stringify(book, null, 2) + '\n');
  const used = () => new Set([...Object.values(book ?? {}).flatMap((p) => [p.port, p.debugPort, p.egressPort ?? 0]), ...reserved()]);
  // One reader-writer at a time: the runtime and the reconciler share the book, and passes start caches in parallel.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  };

  const freePort = async (avoid: Set<number>): Promise<number> => {
    for (;;) {
      const port = await ephemeralPort(host);
      if (!avoid.has(port)) return port;
    }
  };

  return {
    portsFor: (name) =>
      serial(async () => {
        const b = await load();
        const known = b[name];
        if (known && known.port && (await isFree(host, known.port)) && (await isFree(host, known.debugPort))) return known;
        const avoid = used();
        const port = await freePort(avoid);
        avoid.add(port);
        const debugPort = await freePort(avoid);
        b[name] = { ...b[name], port, debugPort };
        await save();
        return b[name]!;
      }),
    egressPortFor: (name) =>
      serial(async () => {
        const b = await load();
        const known = b[name]?.egressPort;
        if (known) return known;
        const egressPort = await freePort(used());
        b[name] = { ...(b[name] ?? { port: 0, debugPort: 0 }), egressPort };
        await save();
        return egressPort;
      }),
    release: (name) =>
      serial(async () => {
        const b = await load();
        delete b[name];
        // The hop listeners of its upstream mirrors (mirrorPortKey: `<name>#<i>`).
        for (const key of Object.keys(b)) if (key.startsWith(`${name}#`)) delete b[key];
        await save();
      }),
  };
}

function ephemeralPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function isFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
