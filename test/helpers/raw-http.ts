// Exact bytes on a TCP socket: for requests no HTTP client library would send.
import net from 'node:net';

export interface RawExchange {
  /** Every HTTP response status seen on the connection, in order. */
  statuses: number[];
  headers: Record<string, string>;
  body: string;
  raw: string;
  /** ms from connect to the server closing the connection (or the timeout). */
  closedAfterMs: number;
  closedByServer: boolean;
}

export function rawExchange(port: number, request: string | Buffer, opts: { timeoutMs?: number; host?: string } = {}): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, opts.host ?? '127.0.0.1');
    const chunks: Buffer[] = [];
    let closedByServer = false;
    const timer = setTimeout(() => socket.destroy(), opts.timeoutMs ?? 10_000);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => {
      closedByServer = true;
      socket.end();
    });
    socket.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') closedByServer = true;
      else reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      const statuses = [...raw.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      const [head = '', ...rest] = raw.split('\r\n\r\n');
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ statuses, headers, body: rest.join('\r\n\r\n'), raw, closedAfterMs: Date.now() - started, closedByServer });
    });
  });
}
