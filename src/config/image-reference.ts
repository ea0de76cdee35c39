/**
 * Image references as users type them (`alpine:3.19`, `docker.io/library/alpine:3.19`,
 * `ghcr.io/org/app@sha256:…`), parsed the way docker and containerd normalise them. Pure.
 */
export interface ImageReference {
  /** Registry host images are named by (`docker.io`), matched against the caches' mirrorOf. */
  registry: string;
  /** Repository on the wire (`library/alpine`). */
  repository: string;
  /** Tag, or null when only a digest is given. */
  tag: string | null;
  digest: string | null;
}

const DOCKER_HUB = 'docker.io';
// Names docker accepts for Docker Hub; images are named by docker.io.
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]{1,5})?$/;

export function parseImageReference(text: string): ImageReference | { error: string } {
  const ref = text.trim();
  if (ref.length === 0 || ref.length > 512) return { error: 'must be an image reference such as docker.io/library/alpine:3.19' };
  let rest = ref;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return { error: `"${ref}": digest must be sha256:<64 hex digits>` };
  }
  let tag: string | null = null;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return { error: `"${ref}": tag "${tag}" is not a valid tag` };
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  // The first component is a host when it has a '.' or ':' or is localhost (docker's rule).
  if (parts.length > 1 && (/[.:]/.test(parts[0]!) || parts[0] === 'localhost')) {
    registry = parts.shift()!.toLowerCase();
    if (!HOST.test(registry)) return { error: `"${ref}": "${registry}" is not a registry host` };
  }
  if (DOCKER_HUB_ALIASES.has(registry)) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  for (const part of parts) {
    if (!COMPONENT.test(part)) return { error: `"${ref}": repository component "${part}" must be lower-case letters, digits and separators` };
  }
  const repository = parts.join('/');
  if (repository.length > 255) return { error: `"${ref}": repository name is longer than 255 characters` };
  if (tag === null && digest === null) tag = 'latest';
  return { registry, repository, tag, digest };
}

/** The canonical spelling: `docker.io/library/alpine:3.19`, `ghcr.io/org/app@sha256:…`. */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
