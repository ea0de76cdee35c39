import type { ListenAddress } from './address.js';
import type { ConfigProblem } from './problems.js';
import type { AccessConfig, RegistryAccessConfig } from './sections/access.js';
import type { CacheConfig, RegistryCacheConfig } from './sections/cache.js';
import type { ClusterConfig } from './sections/cluster.js';
import type { DockerConfig } from './sections/docker.js';
import type { EgressConfig } from './sections/egress.js';
import type { RepositoryRules } from './sections/repositories.js';
import type { RegistryTlsConfig, TlsConfig } from './sections/tls.js';
import type { WarmConfig } from './sections/warm.js';

/** The validated configuration. Everything downstream (templates included) reads this, never raw YAML. */
export interface RegcacheConfig {
  /** Absolute path of the file this came from, for messages and relative paths. */
  source: string;
  domain: string;
  /** How a cache's name becomes its vhost's first label(s): `dotted` keeps the name, `dashed` joins it with '-'. */
  hostStyle: HostStyle;
  listen: ListenAddress;
  admin: AdminConfig;
  runtime: RuntimeChoice;
  dataDir: string;
  nginx: NginxConfig;
  docker: DockerConfig;
  cache: CacheConfig;
  egress: EgressConfig;
  tls: TlsConfig | null;
  access: AccessConfig;
  /** Images to warm (fetch through the router) at start and, with an interval, periodically. */
  warm: WarmConfig;
  /** Peers sharing the caching by digest; null: a single node. */
  cluster: ClusterConfig | null;
  registries: RegistryConfig[];
  /** Things that work but that the user should fix (e.g. host names the TLS certificate does not cover). */
  warnings: ConfigProblem[];
  /** Absolute paths of the files the config points at and that were read with it (certificates, htpasswd, secrets). */
  referencedFiles: string[];
}

export type HostStyle = 'dotted' | 'dashed';

export type RuntimeChoice = 'process' | 'docker' | 'auto';

export interface AdminConfig {
  listen: ListenAddress;
  /** Bearer token every /api/ route requires; null leaves the API open (it listens on loopback by default). */
  token: string | null;
  metricsPublic: boolean;
  /** Host names (besides addresses and localhost) browsers may use to reach the admin API. */
  hosts: string[];
}

export interface NginxConfig {
  /** Worker user when the daemon runs as root; null leaves nginx's default. */
  user: string | null;
  workerProcesses: number | 'auto';
  /** Name of a Docker container running nginx that regcache drives; null = nginx as a child process. */
  container: string | null;
}

export interface UpstreamCredentials {
  username: string;
  password: string;
}

export interface RegistryConfig {
  /** The upstream registry's name, e.g. `docker.io`; also the first label(s) of its vhost. */
  name: string;
  /** The registry host images are named by (`docker.io`); clients map it to this cache. Default: name. */
  mirrorOf: string;
  /** Position among the caches of the same mirrorOf (1 = first); null when it is the only one. */
  mirrorOrder: number | null;
  upstream: string;
  credentials: UpstreamCredentials | null;
  /** `<name>.<domain>` (or `<slug>.<domain>` with hostStyle dashed) first, then aliases. */
  hosts: string[];
  /** Per-registry overrides; null when the registry follows the global section. */
  cache: RegistryCacheConfig | null;
  /** Per-registry egress switch; null follows egress.enabled. */
  egress: boolean | null;
  tls: RegistryTlsConfig;
  access: RegistryAccessConfig;
  /** Which repositories this cache serves; null serves every repository. */
  repositories: RepositoryRules | null;
}
