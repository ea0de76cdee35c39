// Minimal Docker Registry v2 client for seeding and probing registries in tests.
import { request as httpRequest } from 'node:http';
import { ALL_MANIFEST_MEDIA_TYPES, isTestIndex, type Blob, type TestImage, type TestIndex } from './image.js';

export interface BasicAuth {
  username: string;
  password: string;
}

export function basicAuthHeader(auth: BasicAuth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

async function expectStatus(res: Response, expected: number[], what: string): Promise<void> {
  if (expected.includes(res.status)) return;
  const body = await res.text().catch(() => '');
  throw new Error(`${what}: unexpected HTTP ${res.status} (want ${expected.join('/')}): ${body}`);
}

/**
 * Pushes an image or index. Credentials, when given, are sent preemptively:
 * distribution's htpasswd auth is plain Basic, so no challenge round-trip is needed.
 */
export async function pushImage(
  registryUrl: string,
  repository: string,
  tag: string,
  image: TestImage | TestIndex,
  opts: { auth?: BasicAuth } = {},
): Promise<void> {
  const base = registryUrl.replace(/\/+$/, '');
  const authHeaders: Record<string, string> = opts.auth ? { authorization: basicAuthHeader(opts.auth) } : {};

  const pushBlob = async (blob: Blob): Promise<void> => {
    const blobUrl = `${base}/v2/${repository}/blobs/${blob.digest}`;
    const head = await fetch(blobUrl, { method: 'HEAD', headers: authHeaders });
    if (head.status === 200) return;
    await expectStatus(head, [404], `HEAD ${blobUrl}`);

    const start = await fetch(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: authHeaders });
    await expectStatus(start, [202], `start upload of ${blob.digest}`);
    const location = start.headers.get('location');
    if (!location) throw new Error(`start upload of ${blob.digest}: 202 without Location header`);
    // Location may be relative or absolute and usually already carries ?_state=...
    const putUrl = new URL(location, `${base}/`);
    putUrl.searchParams.set('digest', blob.digest);
    const put = await fetch(putUrl, {
      method: 'PUT',
      headers: { ...authHeaders, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(blob.data), // copy: fetch's BodyInit typing rejects Buffer<ArrayBufferLike>
    });
    await expectStatus(put, [201], `PUT blob ${blob.digest}`);
  };

  const pushManifest = async (ref: string, body: Buffer, mediaType: string, digest: string): Promise<void> => {
    const res = await fetch(`${base}/v2/${repository}/manifests/${ref}`, {
      method: 'PUT',
      headers: { ...authHeaders, 'content-type': mediaType },
      body: new Uint8Array(body),
    });
    await expectStatus(res, [201], `PUT manifest ${repository}:${ref}`);
    const got = res.headers.get('docker-content-digest');
    if (got && got !== digest) throw new Error(`PUT manifest ${repository}:${ref}: registry digest ${got} != ${digest}`);
  };

  const pushSingle = async (img: TestImage, ref: string): Promise<void> => {
    for (const blob of [img.config, ...img.layers]) await pushBlob(blob);
    await pushManifest(ref, img.manifest, img.manifestMediaType, img.manifestDigest);
  };

  if (isTestIndex(image)) {
    // The registry rejects an index whose children are not already present.
    for (const child of image.images) await pushSingle(child, child.manifestDigest);
    await pushManifest(tag, image.manifest, image.manifestMediaType, image.manifestDigest);
  } else {
    await pushSingle(image, tag);
  }
}

export interface RawResponse {
  status: number;
  body: Buffer;
  headers: Headers;
}

export interface ManifestResponse extends RawResponse {
  digest: string | null;
  mediaType: string | null;
}

export interface RequestOptions {
  /** Extra request headers; unlike fetch, `host` may be overridden (virtual-host routing). */
  headers?: Record<string, string>;
  method?: 'GET' | 'HEAD';
}

/** Plain node:http request (fetch/undici forbids overriding Host). Does not follow redirects. */
export function rawRequest(url: string, method: string, headers: Record<string, string>): Promise<RawResponse> {
  const target = new URL(url);
  if (target.protocol !== 'http:') throw new Error(`only http:// is supported, got ${url}`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { hostname: target.hostname, port: target.port || 80, path: target.pathname + target.search, method, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const out = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined) continue;
            for (const item of Array.isArray(v) ? v : [v]) out.append(k, item);
          }
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: out });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function getManifest(
  url: string,
  repository: string,
  reference: string,
  accept: readonly string[] = ALL_MANIFEST_MEDIA_TYPES,
  opts: RequestOptions = {},
): Promise<ManifestResponse> {
  // An empty `accept` sends no Accept header (distribution 2.8 then down-converts schema2 to schema1).
  const acceptHeader: Record<string, string> = accept.length > 0 ? { accept: accept.join(', ') } : {};
  const res = await rawRequest(`${url.replace(/\/+$/, '')}/v2/${repository}/manifests/${reference}`, opts.method ?? 'GET', {
    ...acceptHeader,
    ...opts.headers,
  });
  const contentType = res.headers.get('content-type');
  return {
    ...res,
    digest: res.headers.get('docker-content-digest'),
    mediaType: contentType ? contentType.split(';')[0].trim() : null,
  };
}

export async function getBlob(url: string, repository: string, digest: string, opts: RequestOptions = {}): Promise<RawResponse> {
  return rawRequest(`${url.replace(/\/+$/, '')}/v2/${repository}/blobs/${digest}`, opts.method ?? 'GET', { ...opts.headers });
}
