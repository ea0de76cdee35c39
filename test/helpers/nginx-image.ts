// A local nginx image from Debian's nginx (plus sh and sleep, to wait for the first config the way
// compose/docker-compose.yml does): the test stand-in for the official nginx image, which cannot be pulled here.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { requireBinary } from './binaries.js';
import { buildImageFromHost } from './host-image.js';
import { BUILD_LABEL, imageLabel, requireDockerEngine } from './registry-image.js';

export const NGINX_TEST_IMAGE = 'regcache-test/nginx:debian';

export async function ensureNginxImage(tag = NGINX_TEST_IMAGE): Promise<string> {
  await requireDockerEngine();
  const nginx = requireBinary(['nginx'], 'REGCACHE_NGINX_BIN');
  const sh = requireBinary(['sh']);
  const sleep = requireBinary(['sleep']);
  const fingerprint = createHash('sha256')
    .update(await readFile(nginx))
    .update('v1')
    .digest('hex')
    .slice(0, 16);
  if ((await imageLabel(tag)) === fingerprint) return tag;
  await buildImageFromHost({
    tag,
    binaries: [
      { src: nginx, dest: '/usr/sbin/nginx' },
      { src: sh, dest: '/bin/sh' },
      { src: sleep, dest: '/bin/sleep' },
    ],
    files: {
      '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n',
      '/etc/group': 'root:x:0:\nnobody:x:65534:\nnogroup:x:65534:\n',
    },
    hostFiles: ['/etc/nsswitch.conf'],
    dirs: ['/var/log/nginx', '/var/lib/nginx', '/run'],
    changes: ['ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["nginx", "-g", "daemon off;"]', `LABEL ${BUILD_LABEL}=${fingerprint}`],
  });
  return tag;
}

/** The command compose uses: wait for regcache's first config, then run nginx on it as PID 1 (SIGHUP reloads). */
export function nginxContainerCommand(dir: string): string[] {
  const conf = `${dir}/nginx.conf`;
  return [
    'sh',
    '-c',
    `trap '' HUP; until [ -f ${conf} ]; do sleep 0.2; done; exec nginx -p ${dir}/ -e ${dir}/logs/error.log -c ${conf} -g 'daemon off;'`,
  ];
}
