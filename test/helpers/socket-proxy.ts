// A Unix socket in front of the Docker socket that a test can cut and restore: "Docker unreachable"
// against the real engine, without stopping dockerd (which other tests share).
import { rm } from 'node:fs/promises';
import net from 'node:net';

export interface SocketProxy {
  path: string;
  /** Closes the socket and every open connection: clients see Docker go away. */
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startSocketProxy(path: string, target = '/var/run/docker.sock'): Promise<SocketProxy> {
  let server: net.Server | null = null;
  const open = new Set<net.Socket>();
  const listen = async () => {
    await rm(path, { force: true });
    server = net.createServer((client) => {
      const upstream = net.connect(target);
      open.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        open.delete(client);
        open.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server!.listen(path, resolve));
  };
  const cut = async () => {
    const s = server;
    server = null;
    for (const sock of open) sock.destroy();
    open.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    await rm(path, { force: true });
  };
  await listen();
  return { path, cut, restore: listen, close: cut };
}
