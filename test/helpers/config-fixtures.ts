/** Config texts several test files share. Each is valid; parse it with configFrom (config.ts). */

/** Docker Hub (with an alias) and GHCR; `listen` differs between the client and the render tests. */
export function twoRegistriesYaml(listen = '5000'): string {
  return `
domain: registry.example.com
listen: "${listen}"
registries:
  docker.io:
    upstream: https://registry-1.docker.io
    aliases: [hub.example.com]
  ghcr.io:
    upstream: https://ghcr.io
`;
}

export const TWO_REGISTRIES = twoRegistriesYaml();

/** Two Docker Hub accounts (hub first, then the cache named docker.io), a cache named apart from its host. */
export const MIRRORS = `
domain: registry.example.com
listen: "5000"
registries:
  docker.io:
    upstream: https://registry-1.docker.io
    mirrorOrder: 2
  hub:
    upstream: https://registry-1.docker.io
    mirrorOf: docker.io
    mirrorOrder: 1
  k8s:
    upstream: https://registry.k8s.io
    mirrorOf: registry.k8s.io
`;
