import { isoTime } from '../../util/clock.js';
import type { DaemonEvent } from '../../state/event-log.js';
import { formatAgo, formatBytes, formatCount, formatRatio } from '../../util/format.js';
import type { DaemonStatus, ObservedVhost } from '../status-service.js';
import type { HitMiss } from '../../observe/vhost-numbers.js';
import type { ClientSnippet } from './client-snippets.js';

export interface RatioView {
  text: string;
  /** 0–100 for the bar, null when nothing was counted yet. */
  percent: number | null;
  detail: string;
}

export interface VhostCardView {
  name: string;
  status: ObservedVhost['status'];
  statusText: string;
  /** Registry host the cache mirrors (e.g. docker.io for a cache named hub). */
  mirrorOf: string;
  hosts: string[];
  upstream: string;
  upstreamText: string;
  /** A mirror list's mirrors in order (empty for a single upstream). */
  mirrors: Array<{ address: string; state: string; text: string }>;
  backendText: string;
  manifests: RatioView;
  blobs: RatioView;
  requestsText: string;
  requestClasses: Array<{ cls: string; count: string }>;
  bytesServed: string;
  bytesFromUpstream: string;
  upstream429: string;
  /** Requests the repository rules refused (denied + not allowed). */
  refused: string;
  disk: string;
  diskHint: string;
  lastPull: string;
  restarts: number;
  lastError: string | null;
}

export interface StatusPageView {
  generatedAt: string;
  generatedAtText: string;
  refreshSeconds: number;
  ready: boolean;
  readyText: string;
  generation: number;
  configPath: string;
  appliedText: string;
  runtime: string;
  nginxText: string;
  /** message is null when the problems list says it all. */
  banner: { message: string | null; problems: string[]; atText: string } | null;
  summary: Array<{ label: string; value: string; hint: string }>;
  vhosts: VhostCardView[];
  events: Array<{ timeText: string; time: string; kind: string; level: string; vhost: string; message: string }>;
  /** Recent warm jobs (POST /api/v1/warm, the config's warm list), newest first. */
  warmJobs: Array<{
    id: string;
    state: string;
    origin: string;
    time: string;
    timeText: string;
    summary: string;
    images: string[];
    failures: string[];
  }>;
  /** Pinned images, their totals per cache and overall, and caches whose pinned bytes alone exceed maxSize. */
  pins: {
    rows: Array<{ id: string; image: string; cache: string; source: string; state: string; digests: number; bytes: string; error: string | null }>;
    totals: string[];
    total: string;
    warnings: string[];
  };
  snippets: ClientSnippet[];
  /** The cluster ring, one row per peer; null: a single node. */
  cluster: {
    self: string;
    peers: Array<{ address: string; self: boolean; state: string; level: string; share: string; forwarded: string; detail: string }>;
  } | null;
}

/** What the page needs of the pins (src/pin/pins.ts, storage bound). */
export interface PinsSummary {
  pins: Array<{ id: string; image: string; cache: string; source: string; state: string; digests: number; bytes: number; error: string | null }>;
  totals: { caches: Record<string, number>; bytes: number };
  overMaxSize: Record<string, number>;
}

/** What the page needs of a warm job (src/warm/warm-jobs.ts WarmJob). */
export interface WarmJobSummary {
  id: string;
  state: string;
  origin: string;
  createdAt: string;
  platforms: string[];
  images: Array<{ image: string; state: string; error: string | null; blobs: { done: number; total: number }; bytes: number }>;
  totals: { images: number; done: number; failed: number; blobs: number; bytes: number };
}

const STATUS_TEXT: Record<ObservedVhost['status'], string> = {
  up: 'up',
  starting: 'starting',
  degraded: 'degraded — upstream unreachable, serving cached content',
  down: 'down',
};

const plural = (n: number, word: string) => `${formatCount(n)} ${word}${n === 1 ? '' : word.endsWith('s') ? 'es' : 's'}`;

function ratioView(stats: HitMiss, extra = ''): RatioView {
  return {
    text: formatRatio(stats.hitRatio),
    percent: stats.hitRatio === null ? null : Math.round(stats.hitRatio * 1000) / 10,
    detail: `${plural(stats.hits, 'hit')} · ${plural(stats.misses, 'miss')}${extra}`,
  };
}

function card(v: ObservedVhost, nowMs: number): VhostCardView {
  const t = v.traffic;
  return {
    name: v.name,
    status: v.status,
    statusText: STATUS_TEXT[v.status],
    mirrorOf: v.mirrorOf,
    hosts: v.hosts,
    upstream: v.upstream,
    upstreamText: v.upstreamReachable === null ? 'not probed yet' : v.upstreamReachable ? 'reachable' : 'unreachable',
    mirrors: v.mirrors.map((m) => ({
      address: m.address,
      state: m.state,
      text: [
        `${formatCount(m.requests)} requests`,
        `${formatCount(m.failures)} failed over`,
        ...(m.lastError ? [`last error ${m.lastError} ${formatAgo(m.lastErrorAt, nowMs)}`] : []),
      ].join(' · '),
    })),
    backendText: `${v.backend.state}${v.backend.address ? ` at ${v.backend.address}` : ''}${v.routed ? '' : ' · not routed'}`,
    manifests: ratioView(v.cache.manifests, v.cache.registryStats ? '' : ' (registry counters unavailable)'),
    blobs: ratioView(v.cache.blobs, v.cache.blobs.unknown > 0 ? ` · ${formatCount(v.cache.blobs.unknown)} unknown` : ''),
    requestsText: formatCount(t.requests.total),
    refused: formatCount(t.repositoryRefused.denied + t.repositoryRefused.notAllowed),
    requestClasses: (['2xx', '3xx', '4xx', '5xx'] as const)
      .filter((c) => t.requests[c] > 0)
      .map((cls) => ({ cls, count: formatCount(t.requests[cls]) })),
    bytesServed: formatBytes(t.bytesServed),
    bytesFromUpstream: formatBytes(t.bytesFromUpstream),
    upstream429: formatCount(t.upstream429),
    disk: formatBytes(v.cache.diskBytes),
    diskHint: v.cache.diskMeasuredAt ? `measured ${formatAgo(v.cache.diskMeasuredAt, nowMs)}` : 'not measured',
    lastPull: formatAgo(t.lastPullAt, nowMs),
    restarts: v.backend.restarts,
    lastError: v.lastError,
  };
}

function sum(vhosts: ObservedVhost[], pick: (v: ObservedVhost) => number): number {
  return vhosts.reduce((a, v) => a + pick(v), 0);
}

/** Everything the status page template shows, formatted. Pure. */
export function statusPageView(input: {
  status: DaemonStatus;
  events: DaemonEvent[];
  snippets: ClientSnippet[];
  nowMs: number;
  refreshSeconds: number;
  warmJobs?: WarmJobSummary[];
  pins?: PinsSummary;
}): StatusPageView {
  const { status, nowMs } = input;
  const vhosts = status.vhosts;
  const hits = sum(vhosts, (v) => v.cache.manifests.hits + v.cache.blobs.hits);
  const misses = sum(vhosts, (v) => v.cache.manifests.misses + v.cache.blobs.misses);
  const up = vhosts.filter((v) => v.status === 'up').length;
  const disk = vhosts.some((v) => v.cache.diskBytes !== null) ? sum(vhosts, (v) => v.cache.diskBytes ?? 0) : null;
  const reload = status.nginx.lastReload;
  return {
    generatedAt: isoTime(nowMs),
    generatedAtText: isoTime(nowMs)
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' UTC'),
    refreshSeconds: input.refreshSeconds,
    ready: status.ready,
    readyText: status.ready ? 'serving' : 'not ready',
    generation: status.generation,
    configPath: status.config.path,
    appliedText: status.config.appliedAt ? `applied ${formatAgo(status.config.appliedAt, nowMs)}` : 'no config applied yet',
    runtime: status.runtime,
    nginxText: `nginx ${status.nginx.running ? 'running' : 'stopped'}${status.nginx.restarts ? ` · ${status.nginx.restarts} restarts` : ''}${
      reload ? ` · last reload ${reload.result} ${formatAgo(reload.at, nowMs)}` : ''
    }`,
    banner: status.lastError
      ? {
          message: status.lastError.problems.length > 0 ? null : status.lastError.message,
          problems: status.lastError.problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)),
          atText: formatAgo(status.lastError.at, nowMs),
        }
      : null,
    summary: [
      { label: 'caches up', value: `${up}/${vhosts.length}`, hint: vhosts.length - up > 0 ? `${vhosts.length - up} need attention` : 'all healthy' },
      {
        label: 'requests',
        value: formatCount(sum(vhosts, (v) => v.traffic.requests.total)),
        hint: vhosts[0] ? `counted since ${formatAgo(vhosts[0].traffic.since, nowMs)}` : 'no vhosts',
      },
      { label: 'served', value: formatBytes(sum(vhosts, (v) => v.traffic.bytesServed)), hint: 'to clients' },
      {
        label: 'from upstream',
        value: formatBytes(sum(vhosts, (v) => v.traffic.bytesFromUpstream)),
        hint: `${formatCount(sum(vhosts, (v) => v.traffic.upstream429))} rate-limited (429)`,
      },
      { label: 'hit ratio', value: formatRatio(hits + misses > 0 ? hits / (hits + misses) : null), hint: 'manifests + blobs' },
      { label: 'disk', value: formatBytes(disk), hint: diskHint(status.disk) },
    ],
    vhosts: vhosts.map((v) => card(v, nowMs)),
    events: input.events.map((e) => ({
      time: e.time,
      timeText: formatAgo(e.time, nowMs),
      kind: e.kind,
      level: e.level,
      vhost: e.vhost ?? '',
      message: e.message,
    })),
    warmJobs: (input.warmJobs ?? []).slice(0, 10).map((j) => ({
      id: j.id,
      state: j.state,
      origin: j.origin,
      time: j.createdAt,
      timeText: formatAgo(j.createdAt, nowMs),
      summary: `${j.totals.done}/${j.totals.images} images · ${j.totals.blobs} blobs · ${formatBytes(j.totals.bytes)} · ${j.platforms.join(', ')}`,
      images: j.images.map((i) => `${i.image} (${i.state}${i.blobs.total ? `, ${i.blobs.done}/${i.blobs.total} blobs` : ''})`),
      failures: j.images.filter((i) => i.error).map((i) => `${i.image}: ${i.error}`),
    })),
    pins: pinsView(input.pins),
    snippets: input.snippets,
    cluster: status.cluster
      ? {
          self: status.cluster.self,
          peers: status.cluster.peers.map((p) => ({
            address: p.address,
            self: p.self,
            state: p.up === null ? 'not probed yet' : p.up ? 'up' : 'down',
            level: p.up === false ? 'warn' : 'info',
            share: `${(p.ringShare * 100).toFixed(1)} %`,
            forwarded: formatCount(p.forwarded),
            detail: [
              p.error ?? '',
              Object.entries(p.forwardedByCode)
                .map(([code, n]) => `${code}: ${formatCount(n)}`)
                .join(' · '),
            ]
              .filter(Boolean)
              .join(' — '),
          })),
        }
      : null,
  };
}

function pinsView(pins: PinsSummary | undefined): StatusPageView['pins'] {
  if (!pins) return { rows: [], totals: [], total: formatBytes(0), warnings: [] };
  return {
    rows: pins.pins.map((p) => ({ ...p, bytes: formatBytes(p.bytes) })),
    totals: Object.entries(pins.totals.caches).map(([cache, bytes]) => `${cache}: ${formatBytes(bytes)}`),
    total: formatBytes(pins.totals.bytes),
    warnings: Object.entries(pins.overMaxSize).map(
      ([cache, bytes]) => `${cache}: pinned images hold ${formatBytes(bytes)}, more than cache.maxSize; they are kept, nothing else fits`,
    ),
  };
}

/** The caches' disk tile: free space under dataDir, and whether cold pulls are refused for lack of it. */
function diskHint(space: DaemonStatus['disk'] | undefined): string {
  if (!space) return 'all caches';
  return space.low ? `only ${formatBytes(space.freeBytes)} free: cold pulls refused` : `all caches · ${formatBytes(space.freeBytes)} free`;
}
