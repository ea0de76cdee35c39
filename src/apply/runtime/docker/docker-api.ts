/**
 * The Docker Engine calls regcache makes, in its own types. The one implementation over dockerode
 * lives in dockerode-api.ts; nothing else imports dockerode.
 */

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerSummary {
  id: string;
  /** Without Docker's leading slash. */
  name: string;
  image: string;
  labels: Record<string, string>;
  status: ContainerStatus;
  /** IP address per attached network name. */
  networks: Record<string, string>;
  /** Restarts done by Docker's restart policy; only inspect reports it. */
  restartCount?: number;
}

export interface VolumeMount {
  /** Named volume. */
  volume: string;
  target: string;
}

export interface ContainerCreateSpec {
  name: string;
  image: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** `host` or a network name. */
  network: string;
  /** Other names the container answers to on its network. */
  networkAliases: string[];
  mounts: VolumeMount[];
  restartPolicy: 'no' | 'unless-stopped' | 'always';
}

export interface DockerEvent {
  action: 'start' | 'die' | 'destroy' | 'stop' | 'kill' | 'create' | string;
  containerId: string;
  name: string;
  labels: Record<string, string>;
  /** Exit code on `die`. */
  exitCode: number | null;
}

export interface EventSubscription {
  close(): void;
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

export interface DockerApi {
  /** Resolves when the engine answers. */
  ping(): Promise<void>;
  listContainers(filter: { labels?: string[]; name?: string }): Promise<ContainerSummary[]>;
  /** Returns null when no container has that name or id. */
  inspectContainer(nameOrId: string): Promise<ContainerSummary | null>;
  createContainer(spec: ContainerCreateSpec): Promise<string>;
  startContainer(id: string): Promise<void>;
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  removeContainer(id: string): Promise<void>;
  signalContainer(id: string, signal: string): Promise<void>;
  exec(id: string, command: string[]): Promise<ExecResult>;
  /** The container's processes as the host sees them (pid and full command line). */
  processes(id: string): Promise<Array<{ pid: number; command: string }>>;
  imageExists(ref: string): Promise<boolean>;
  /** Pulls an image, reporting progress lines (one per status change, not per byte). */
  pullImage(ref: string, onProgress: (line: string) => void): Promise<void>;
  ensureNetwork(name: string, labels: Record<string, string>): Promise<void>;
  ensureVolume(name: string, labels: Record<string, string>): Promise<void>;
  /** Where the engine keeps a volume's files on its host, null when there is no such volume. */
  volumeMountpoint(name: string): Promise<string | null>;
  /**
   * Streams container events matching the labels. onEnd is called once when the stream breaks
   * (engine gone, socket closed); the caller resubscribes.
   */
  subscribe(
    filter: { labels: string[]; actions: string[] },
    onEvent: (event: DockerEvent) => void,
    onEnd: (err: Error | null) => void,
  ): Promise<EventSubscription>;
}

/** Where the Docker API answers. */
export type DockerEndpoint = { kind: 'socket'; path: string } | { kind: 'tcp'; host: string; port: number };

/** `docker.socket`, then DOCKER_HOST, then the default socket. Pure. */
export function dockerEndpoint(socket: string | null, env: Readonly<Record<string, string | undefined>>): DockerEndpoint {
  const raw = socket ?? (env.DOCKER_HOST || null) ?? '/var/run/docker.sock';
  if (raw.startsWith('tcp://')) {
    const url = new URL(raw.replace(/^tcp:/, 'http:'));
    return { kind: 'tcp', host: url.hostname, port: Number(url.port || 2375) };
  }
  return { kind: 'socket', path: raw.replace(/^unix:\/\//, '') };
}

export function describeEndpoint(e: DockerEndpoint): string {
  return e.kind === 'socket' ? `unix://${e.path}` : `tcp://${e.host}:${e.port}`;
}
