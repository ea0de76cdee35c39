// A pull over the registry API as a client does it (manifest, then config and layers), against any
// address, with the cache's vhost in Host; every body is checked against its digest.
import { Agent, request } from 'node:http';
import { ALL_MANIFEST_MEDIA_TYPES, sha256Digest, type TestImage } from './image.js';

export interface PullTarget {
  address: string;
  port: number;
  /** The vhost of the cache (`<registry>.<domain>`). */
  vhost: string;
}

export interface GetOptions {
  headers?: Record<string, string>;
  /** Keep-alive pool; default: a connection per request. */
  agent?: Agent;
  timeoutMs?: number;
  /** Called when a request is sent again (see registryGet). */
  onRetry?: (error: Error) => void;
}

/**
 * GET with Host set (fetch cannot); the body in full. A GET on a kept-alive connection that the server
 * closed before answering anything is sent once more on a new one, as Go's http client (Docker,
 * containerd) does: a server may close an idle connection just as the client reuses it.
 */
export async function registryGet(target: PullTarget, path: string, opts: GetOptions = {}): Promise<{ status: number; body: Buffer }> {
  try {
    return await getOnce(target, path, opts);
  } catch (err) {
    const e = err as Error & { reused?: boolean; answered?: boolean };
    if (!e.reused || e.answered) throw err;
    opts.onRetry?.(e);
    // Not from the pool: its other idle connections may be closing too.
    return getOnce(target, path, { ...opts, agent: undefined });
  }
}

function getOnce(target: PullTarget, path: string, opts: GetOptions): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      { host: target.address, port: target.port, path, headers: { host: target.vhost, ...opts.headers }, agent: opts.agent ?? false },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(new Error(`GET ${target.address}:${target.port}${path} timed out`)));
    req.on('error', (err) => reject(Object.assign(err, { reused: req.reusedSocket, answered })));
    req.end();
  });
}

export interface PullOptions extends Pick<GetOptions, 'agent' | 'onRetry'> {
  /**
   * Tries per manifest or blob (1). Docker's pull tries a failed download again (5 tries, 5 s, 10 s, …
   * apart): a broken connection, a body cut short or a 5xx. A wrong digest is never tried again.
   */
  attempts?: number;
  retryDelayMs?: number;
  /** Called for each download tried again, with what failed. */
  onDownloadRetry?: (error: Error) => void;
}

class WrongContent extends Error {}

async function fetchOnce(target: PullTarget, path: string, digest: string, opts: GetOptions): Promise<number> {
  const res = await registryGet(target, path, opts).catch((err: Error) => {
    throw new Error(`GET ${target.address}:${target.port}${path}: ${err.message}`, { cause: err });
  });
  if (res.status !== 200) {
    const error = new Error(`GET ${target.address}:${target.port}${path} answered ${res.status}: ${res.body.toString().slice(0, 200)}`);
    throw res.status >= 500 ? error : new WrongContent(error.message);
  }
  const got = sha256Digest(res.body);
  if (got !== digest) throw new WrongContent(`GET ${target.address}:${target.port}${path}: body has digest ${got}, expected ${digest}`);
  return res.body.length;
}

async function fetchVerified(target: PullTarget, path: string, digest: string, opts: GetOptions & PullOptions): Promise<number> {
  const attempts = opts.attempts ?? 1;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchOnce(target, path, digest, opts);
    } catch (err) {
      if (err instanceof WrongContent || attempt >= attempts) throw err;
      opts.onDownloadRetry?.(err as Error);
      await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 1000));
    }
  }
}

/**
 * Pulls `repository:tag` as a client would and checks every digest; resolves to the bytes received.
 * Throws on a wrong digest or a 4xx at once, and on a 5xx or a broken download once `attempts` are used.
 */
export async function pullImage(target: PullTarget, repository: string, tag: string, image: TestImage, opts: PullOptions = {}): Promise<number> {
  const accept = { accept: ALL_MANIFEST_MEDIA_TYPES.join(', ') };
  let bytes = await fetchVerified(target, `/v2/${repository}/manifests/${tag}`, image.manifestDigest, { ...opts, headers: accept });
  // Docker fetches three blobs at a time.
  const queue = [image.config, ...image.layers];
  const worker = async () => {
    for (let b = queue.shift(); b; b = queue.shift()) bytes += await fetchVerified(target, `/v2/${repository}/blobs/${b.digest}`, b.digest, opts);
  };
  await Promise.all([worker(), worker(), worker()]);
  return bytes;
}
