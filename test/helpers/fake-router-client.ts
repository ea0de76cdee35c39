// An in-memory registry behind warm's RouterClient port, and small images to put in it.
import { createHash } from 'node:crypto';
import type { RouterClient } from '../../src/warm/router-client.js';

export const sha256Of = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Answers manifests by tag or digest and blobs from `content`, recording what was asked; `failBlob` fails. */
export function fakeRouterClient(content: Map<string, { body: Buffer; type?: string }>, tags: Record<string, string>, failBlob?: string) {
  const asked: string[] = [];
  const client: RouterClient = {
    async manifest(_host, _repo, ref) {
      asked.push(`manifest ${ref}`);
      const digest = tags[ref] ?? ref;
      const c = content.get(digest);
      if (!c) throw new Error(`manifest ${ref}: HTTP 404`);
      return { body: c.body, contentType: c.type ?? null, digest };
    },
    async blob(_host, _repo, digest, onBytes) {
      asked.push(`blob ${digest}`);
      if (digest === failBlob) throw new Error(`blob ${digest}: HTTP 500`);
      const c = content.get(digest)!;
      onBytes(c.body.length);
      return c.body.length;
    },
    close() {},
  };
  return { client, asked };
}

/** A manifest of a config and `layers` layers (small distinct blobs), with its digest; `mediaType` goes in the body. */
export function smallImage(seed: string, layers: number, mediaType?: string) {
  const blobs = Array.from({ length: layers + 1 }, (_, i) => Buffer.from(`${seed}-${i}`));
  const manifest = Buffer.from(
    JSON.stringify({
      ...(mediaType ? { mediaType } : {}),
      config: { digest: sha256Of(blobs[0]!), size: blobs[0]!.length },
      layers: blobs.slice(1).map((b) => ({ digest: sha256Of(b), size: b.length })),
    }),
  );
  return { manifest, blobs, digest: sha256Of(manifest) };
}
