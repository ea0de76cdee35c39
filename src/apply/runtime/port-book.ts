import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.js';

export interface CachePorts {
  port: number;
  debugPort: number;
}

/**
 * Loopback ports per cache, persisted so a cache keeps its address across restarts of
 * the cache and of the daemon. A remembered port that is taken by someone else is replaced.
 */
export interface PortBook {
  portsFor(name: string): Promise<CachePorts>;
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

export function createPortBook(file: string, host = '127.0.0.1'): PortBook {
  let book: Record<string, CachePorts> | null = null;
  const load = async () => (book ??= await readPortBook(file));
  const save = async () => writeFileAtomic(file, JSON.stringify(book, null, 2) + '\n');
  const used = () => new Set(Object.values(book ?? {}).flatMap((p) => [p.port, p.debugPort]));

  const freePort = async (avoid: Set<number>): Promise<number> => {
    for (;;) {
      const port = await ephemeralPort(host);
      if (!avoid.has(port)) return port;
    }
  };

  return {
    async portsFor(name) {
      const b = await load();
      const known = b[name];
      if (known && (await isFree(host, known.port)) && (await isFree(host, known.debugPort))) return known;
      const avoid = used();
      const port = await freePort(avoid);
      avoid.add(port);
      const debugPort = await freePort(avoid);
      b[name] = { port, debugPort };
      await save();
      return b[name]!;
    },
    async release(name) {
      const b = await load();
      delete b[name];
      await save();
    },
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
