// Deterministic, pure generation of real (pullable, unpackable) container
// images. Same options => same bytes within one Node/zlib build; never
// hard-code digests in tests, compute them from the generated image.
import { createCipheriv, createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** Every manifest type the helpers produce; a sensible default Accept list. */
export const ALL_MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.ociManifest,
  MediaTypes.ociIndex,
];

export type ImageFlavor = 'docker' | 'oci';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Blob {
  digest: string;
  size: number;
  data: Buffer;
  mediaType: string;
}

export interface TestImage {
  manifest: Buffer;
  manifestMediaType: string;
  manifestDigest: string;
  config: Blob;
  layers: Blob[];
  platform: Platform;
}

export interface TestIndex {
  manifest: Buffer;
  manifestMediaType: string;
  manifestDigest: string;
  images: TestImage[];
}

export interface GenerateImageOptions {
  seed: string;
  /** Size in bytes of the single file in each layer (tar overhead comes on top). Default [4096]. */
  layers?: number[];
  /** Default 'docker' (schema2). */
  mediaType?: ImageFlavor;
  /** Default linux/amd64. */
  platform?: Platform;
}

export function sha256Digest(buf: Buffer): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

export function isTestIndex(x: TestImage | TestIndex): x is TestIndex {
  return 'images' in x;
}

/** Incompressible-ish bytes from AES-256-CTR keyed by the seed: fast and deterministic. */
function pseudoRandomBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

// --- minimal ustar writer -------------------------------------------------

function octal(value: number, width: number): string {
  // width-1 octal digits followed by NUL, as GNU tar writes them.
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function tarHeader(name: string, size: number, type: '0' | '5', mode: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime: epoch, for determinism
  h.write('        ', 148, 'ascii'); // checksum field counts as spaces while summing
  h.write(type, 156, 'ascii');
  h.write('ustar\u000000', 257, 'ascii'); // magic "ustar\0" + version "00"
  h.write('root', 265, 'ascii'); // uname
  h.write('root', 297, 'ascii'); // gname
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

/** A tar holding `dir/` and one regular file `dir/file`. */
function singleFileTar(path: string, content: Buffer): Buffer {
  const dir = path.slice(0, path.lastIndexOf('/') + 1);
  const padding = (512 - (content.length % 512)) % 512;
  return Buffer.concat([
    tarHeader(dir, 0, '5', 0o755),
    tarHeader(path, content.length, '0', 0o644),
    content,
    Buffer.alloc(padding),
    Buffer.alloc(1024), // end-of-archive marker
  ]);
}

// --- images ---------------------------------------------------------------

function blobOf(data: Buffer, mediaType: string): Blob {
  return { digest: sha256Digest(data), size: data.length, data, mediaType };
}

function descriptor(b: { digest: string; size: number; mediaType: string }) {
  return { mediaType: b.mediaType, size: b.size, digest: b.digest };
}

function platformKey(p: Platform): string {
  return [p.os, p.architecture, p.variant ?? ''].join('/');
}

export function generateImage(opts: GenerateImageOptions): TestImage {
  const { seed, layers: sizes = [4096], mediaType = 'docker' } = opts;
  const platform: Platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const oci = mediaType === 'oci';
  const safeSeed = seed.replace(/[^A-Za-z0-9._-]/g, '_');

  const diffIds: string[] = [];
  const layers = sizes.map((size, i) => {
    const tar = singleFileTar(`data/${safeSeed}-${i}.bin`, pseudoRandomBytes(`${seed}\0${platformKey(platform)}\0${i}`, size));
    diffIds.push(sha256Digest(tar));
    // gzipSync writes mtime 0 in the gzip header, so output is reproducible.
    return blobOf(gzipSync(tar), oci ? MediaTypes.ociLayer : MediaTypes.dockerLayer);
  });

  const configJson = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: '1970-01-01T00:00:00Z',
    config: { Labels: { 'regcache.test.seed': seed } },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layers.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `regcache test layer ${i}` })),
  };
  const config = blobOf(Buffer.from(JSON.stringify(configJson)), oci ? MediaTypes.ociConfig : MediaTypes.dockerConfig);

  const manifestMediaType = oci ? MediaTypes.ociManifest : MediaTypes.dockerManifest;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: descriptor(config),
      layers: layers.map(descriptor),
    }),
  );
  return { manifest, manifestMediaType, manifestDigest: sha256Digest(manifest), config, layers, platform };
}

/**
 * A manifest list (docker) or image index (OCI) over `images`, which must have
 * distinct platforms. The flavour defaults to that of the first image.
 */
export function generateIndex(images: TestImage[], opts: { mediaType?: ImageFlavor } = {}): TestIndex {
  if (images.length === 0) throw new Error('generateIndex: need at least one image');
  const seen = new Set<string>();
  for (const img of images) {
    const key = platformKey(img.platform);
    if (seen.has(key)) throw new Error(`generateIndex: duplicate platform ${key}`);
    seen.add(key);
  }
  const flavor = opts.mediaType ?? (images[0].manifestMediaType === MediaTypes.ociManifest ? 'oci' : 'docker');
  const manifestMediaType = flavor === 'oci' ? MediaTypes.ociIndex : MediaTypes.dockerManifestList;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestMediaType,
      manifests: images.map((img) => ({
        mediaType: img.manifestMediaType,
        size: img.manifest.length,
        digest: img.manifestDigest,
        platform: { ...img.platform },
      })),
    }),
  );
  return { manifest, manifestMediaType, manifestDigest: sha256Digest(manifest), images };
}
