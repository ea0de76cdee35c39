import { z } from 'zod';

/** `docker:` — settings of the Docker runtime (issue: Docker runtime). */
export const dockerSectionSchema = z.object({}).strict().default({});

export type DockerConfig = Record<string, never>;

export function toDockerConfig(_raw: z.infer<typeof dockerSectionSchema>): DockerConfig {
  return {};
}
