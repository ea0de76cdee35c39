import { IncomingMessage, ServerResponse, type IncomingHttpHeaders, type OutgoingHttpHeaders, type RequestListener } from 'node:http';
import { Socket } from 'node:net';

export interface InjectedResponse {
  status: number;
  headers: OutgoingHttpHeaders;
  body: string;
  json<T = unknown>(): T;
}

/**
 * Sends one request to a node request handler (an Express app) in memory: no port, no socket I/O.
 * The body is taken from what the handler passes to write/end, so streaming responses are not supported.
 */
export function inject(
  handler: RequestListener,
  request: { method?: string; url: string; headers?: IncomingHttpHeaders; body?: string },
): Promise<InjectedResponse> {
  return new Promise((resolve, reject) => {
    const req = new IncomingMessage(new Socket());
    req.method = request.method ?? 'GET';
    req.url = request.url;
    req.headers = { host: '127.0.0.1', ...request.headers };
    if (request.body !== undefined) req.push(request.body);
    req.push(null);

    const res = new ServerResponse(req);
    const chunks: Buffer[] = [];
    const take = (chunk: unknown, encoding?: unknown) => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
    };
    // Own properties: Express swaps the prototypes of req and res, not their own members.
    res.write = ((chunk: unknown, encoding?: unknown) => {
      take(chunk, encoding);
      return true;
    }) as ServerResponse['write'];
    res.end = ((chunk?: unknown, encoding?: unknown) => {
      take(chunk, encoding);
      const body = Buffer.concat(chunks).toString('utf8');
      resolve({ status: res.statusCode, headers: res.getHeaders(), body, json: () => JSON.parse(body) });
      return res;
    }) as ServerResponse['end'];
    try {
      handler(req, res);
    } catch (err) {
      reject(err);
    }
  });
}
