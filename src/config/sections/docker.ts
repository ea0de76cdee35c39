import { z } from 'zod';

// Image references and Docker object names land in API calls and labels: keep them to what Docker accepts.
const IMAGE_REF = /^[a-z0-9][a-z0-9._\-/:@]*$/i;
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const SOCKET = /^(unix:\/\/)?\/[^\s"'`;{}$\\]+$|^tcp:\/\/[a-z0-9.\-[\]:]+$/i;

/** `docker:` — settings of the Docker runtime. */
export const dockerSectionSchema = z
  .object({
    image: z.string().regex(IMAGE_REF, 'must be an image reference such as registry:2').default('registry:2'),
    network: z.string().regex(DOCKER_NAME, 'must be a Docker network name (letters, digits, "_", "." and "-") or host').default('registry-cache'),
    socket: z.string().regex(SOCKET, 'must be a socket path, unix:///path or tcp://host:port').optional(),
  })
  .strict()
  .default({});

export interface DockerConfig {
  /** Image of every cache container (distribution's registry:2 or compatible). */
  image: string;
  /** `host`: host networking, each cache on its own loopback port. Else a bridge network, created if missing. */
  network: string;
  /** Docker API endpoint; null = DOCKER_HOST, then /var/run/docker.sock. */
  socket: string | null;
}

export function toDockerConfig(raw: z.infer<typeof dockerSectionSchema>): DockerConfig {
  return { image: raw.image, network: raw.network, socket: raw.socket ?? null };
}
