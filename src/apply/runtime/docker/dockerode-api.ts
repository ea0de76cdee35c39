import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import type { ContainerStatus, ContainerSummary, DockerApi, DockerEndpoint, DockerEvent } from './docker-api.js';

/** The only file that knows dockerode. Translates its shapes into ours. */
export function createDockerodeApi(endpoint: DockerEndpoint, opts: { timeoutMs?: number } = {}): DockerApi {
  const connection =
    endpoint.kind === 'socket' ? { socketPath: endpoint.path } : { host: endpoint.host, port: endpoint.port, protocol: 'http' as const };
  // Calls time out; streams (events, pulls) must not, so they use a second client.
  const docker = new Docker({ ...connection, timeout: opts.timeoutMs ?? 15_000 });
  const streaming = new Docker(connection);

  const toSummary = (c: Docker.ContainerInfo): ContainerSummary => ({
    id: c.Id,
    name: (c.Names[0] ?? '').replace(/^\//, ''),
    image: c.Image,
    labels: c.Labels ?? {},
    status: c.State as ContainerStatus,
    networks: Object.fromEntries(Object.entries(c.NetworkSettings?.Networks ?? {}).map(([n, s]) => [n, s.IPAddress ?? ''])),
  });

  return {
    async ping() {
      await docker.ping();
    },
    async listContainers(filter) {
      const filters: Record<string, string[]> = {};
      if (filter.labels) filters.label = filter.labels;
      if (filter.name) filters.name = [`^/${filter.name}$`];
      const list = await docker.listContainers({ all: true, filters: JSON.stringify(filters) });
      return list.map(toSummary);
    },
    async inspectContainer(nameOrId) {
      try {
        const c = await docker.getContainer(nameOrId).inspect();
        return {
          id: c.Id,
          name: c.Name.replace(/^\//, ''),
          image: c.Config.Image,
          labels: c.Config.Labels ?? {},
          status: c.State.Status as ContainerStatus,
          networks: Object.fromEntries(Object.entries(c.NetworkSettings?.Networks ?? {}).map(([n, s]) => [n, s.IPAddress ?? ''])),
          restartCount: c.RestartCount,
        };
      } catch (err) {
        if (statusCode(err) === 404) return null;
        throw err;
      }
    },
    async createContainer(spec) {
      const created = await docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        Labels: spec.labels,
        HostConfig: {
          NetworkMode: spec.network,
          RestartPolicy: { Name: spec.restartPolicy },
          Mounts: spec.mounts.map((m) => ({ Type: 'volume' as const, Source: m.volume, Target: m.target })),
        },
        NetworkingConfig: spec.network === 'host' ? undefined : { EndpointsConfig: { [spec.network]: { Aliases: spec.networkAliases } } },
      });
      return created.id;
    },
    async startContainer(id) {
      try {
        await docker.getContainer(id).start();
      } catch (err) {
        if (statusCode(err) !== 304) throw err; // already running
      }
    },
    async stopContainer(id, timeoutSeconds) {
      try {
        await docker.getContainer(id).stop({ t: timeoutSeconds });
      } catch (err) {
        if (statusCode(err) !== 304 && statusCode(err) !== 404) throw err;
      }
    },
    async removeContainer(id) {
      try {
        // v: false keeps named volumes; force covers a container that restarted meanwhile.
        await docker.getContainer(id).remove({ force: true, v: false });
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
    },
    async signalContainer(id, signal) {
      await docker.getContainer(id).kill({ signal });
    },
    async processes(id) {
      const top = (await docker.getContainer(id).top({ ps_args: '-o pid,args' })) as { Titles: string[]; Processes: string[][] };
      const pidAt = top.Titles.findIndex((t) => t.trim() === 'PID');
      const commandAt = top.Titles.findIndex((t) => /^(COMMAND|CMD|ARGS)$/.test(t.trim()));
      if (pidAt < 0 || commandAt < 0) return [];
      return top.Processes.map((p) => ({ pid: Number(p[pidAt]), command: p[commandAt] ?? '' }));
    },
    async exec(id, command) {
      const exec = await docker.getContainer(id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({ hijack: true, stdin: false });
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      docker.modem.demuxStream(stream, out, out);
      await new Promise<void>((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', reject);
      });
      const info = await exec.inspect();
      return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
    },
    async imageExists(ref) {
      try {
        await docker.getImage(ref).inspect();
        return true;
      } catch (err) {
        if (statusCode(err) === 404) return false;
        throw err;
      }
    },
    async pullImage(ref, onProgress) {
      const stream = (await streaming.pull(ref)) as NodeJS.ReadableStream;
      let last = '';
      await new Promise<void>((resolve, reject) => {
        streaming.modem.followProgress(
          stream,
          (err: Error | null) => (err ? reject(err) : resolve()),
          (event: { status?: string; id?: string; error?: string }) => {
            if (event.error) return;
            const line = [event.id, event.status].filter(Boolean).join(': ');
            if (line && line !== last) onProgress(line);
            last = line;
          },
        );
      });
    },
    async ensureNetwork(name, labels) {
      const existing = await docker.listNetworks({ filters: JSON.stringify({ name: [name] }) } as Docker.NetworkListOptions);
      if (existing.some((n) => n.Name === name)) return;
      try {
        await docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels, CheckDuplicate: true });
      } catch (err) {
        if (statusCode(err) !== 409) throw err; // created by someone else meanwhile
      }
    },
    async ensureVolume(name, labels) {
      try {
        await docker.getVolume(name).inspect();
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
        await docker.createVolume({ Name: name, Labels: labels });
      }
    },
    async volumeMountpoint(name) {
      try {
        const info = (await docker.getVolume(name).inspect()) as { Mountpoint?: string };
        return info.Mountpoint ?? null;
      } catch (err) {
        if (statusCode(err) === 404) return null;
        throw err;
      }
    },
    async subscribe(filter, onEvent, onEnd) {
      const stream = (await streaming.getEvents({
        filters: JSON.stringify({ type: ['container'], label: filter.labels, event: filter.actions }),
      } as Docker.GetEventsOptions)) as NodeJS.ReadableStream & { destroy(): void };
      let buffered = '';
      let ended = false;
      const end = (err: Error | null) => {
        if (ended) return;
        ended = true;
        onEnd(err);
      };
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) onEvent(toEvent(JSON.parse(line) as RawEvent));
        }
      });
      stream.on('error', (err: Error) => end(err));
      stream.on('end', () => end(null));
      stream.on('close', () => end(null));
      return {
        close() {
          ended = true;
          stream.destroy();
        },
      };
    },
  };
}

interface RawEvent {
  Action?: string;
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

const NON_LABEL_ATTRIBUTES = new Set(['name', 'image', 'exitCode', 'signal', 'execDuration']);

function toEvent(raw: RawEvent): DockerEvent {
  const attrs = raw.Actor?.Attributes ?? {};
  const exit = attrs.exitCode;
  return {
    action: raw.Action ?? raw.status ?? '',
    containerId: raw.Actor?.ID ?? raw.id ?? '',
    name: attrs.name ?? '',
    labels: Object.fromEntries(Object.entries(attrs).filter(([k]) => !NON_LABEL_ATTRIBUTES.has(k))),
    exitCode: exit !== undefined && exit !== '' ? Number(exit) : null,
  };
}

function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}
