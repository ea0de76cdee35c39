// Builds a local image tagged `registry:2` from Debian's docker-registry binary (distribution 2.8, the code
// inside the real registry:2), since no image can be pulled on test machines. Idempotent: an image whose
// label matches this binary's hash is reused; a real registry:2 (no label) is left alone.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { requireBinary } from './binaries.js';
import { docker, requireDockerEngine } from './docker-cli.js';
import { buildImageFromHost } from './host-image.js';

// The docker CLI helpers live in docker-cli.ts (host-image.ts needs them too); many tests import them from here.
export { docker, requireDocker, requireDockerEngine } from './docker-cli.js';

export const REGISTRY_IMAGE = 'registry:2';
export const BUILD_LABEL = 'io.regcache.test-image';

// The real image's /etc/docker/registry/config.yml (distribution 2.8.x).
const DEFAULT_CONFIG = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`;

export async function imageLabel(tag: string): Promise<string | null | undefined> {
  try {
    const out = await docker(['image', 'inspect', '--format', `{{index .Config.Labels "${BUILD_LABEL}"}}`, tag]);
    return out.trim() || null; // null: an image without our label (e.g. the real registry:2)
  } catch {
    return undefined; // absent
  }
}

/**
 * Makes sure `registry:2` exists locally. Returns the tag. When a real registry:2 is present it is used
 * as is; otherwise one is built from /usr/bin/docker-registry (rebuilt only when the binary changed).
 */
export async function ensureRegistryImage(tag = REGISTRY_IMAGE): Promise<string> {
  await requireDockerEngine();
  const binary = requireBinary(['docker-registry', 'registry'], 'REGCACHE_REGISTRY_BIN');
  const fingerprint = createHash('sha256')
    .update(await readFile(binary))
    .digest('hex')
    .slice(0, 16);
  const existing = await imageLabel(tag);
  if (existing === null || existing === fingerprint) return tag;

  await buildImageFromHost({
    tag,
    binaries: [{ src: binary, dest: '/bin/registry' }],
    files: {
      '/etc/docker/registry/config.yml': DEFAULT_CONFIG,
      '/etc/passwd': 'root:x:0:0:root:/root:/bin/registry\nnobody:x:65534:65534:nobody:/nonexistent:/bin/registry\n',
      '/etc/group': 'root:x:0:\nnogroup:x:65534:\n',
    },
    // https upstreams need CA roots; name resolution reads nsswitch (Docker mounts hosts and resolv.conf).
    hostFiles: ['/etc/ssl/certs/ca-certificates.crt', '/etc/nsswitch.conf'],
    dirs: ['/var/lib/registry'],
    changes: [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'VOLUME ["/var/lib/registry"]',
      'EXPOSE 5000',
      'ENTRYPOINT ["registry", "serve"]',
      'CMD ["/etc/docker/registry/config.yml"]',
      `LABEL ${BUILD_LABEL}=${fingerprint}`,
    ],
  });
  return tag;
}
