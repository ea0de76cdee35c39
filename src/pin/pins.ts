import { readFile } from 'node:fs/promises';
import type { RegcacheConfig } from '../config/model.js';
import { formatPlatform } from '../config/platform.js';
import type { Logger } from '../log.js';
import type { EventLog } from '../state/event-log.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { isoTime, type Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import type { ImageContent } from '../warm/warm-image.js';
import { warmPlatforms, type WarmJob, type WarmJobs, type WarmPinSink } from '../warm/warm-jobs.js';
import { resolveWarmTarget } from '../warm/warm-target.js';
import { pinId, pinnedDigests, pinTotals, pinView, type Pin, type PinSource, type PinView } from './pin-model.js';

type Problem = { path: string; message: string };

export interface Pins {
  /** Reads the pins file (API pins and every pin's last set), so pinned content is known before anything runs. */
  load(): Promise<void>;
  /** The applied config's `pin: true` warm entries become the config pins; call after every apply. */
  update(config: RegcacheConfig): void;
  /** Pins an image through the API: warms it, then records its set. Same image again: new platforms, re-resolved. */
  add(request: { image?: unknown; platforms?: unknown }): { pin: PinView; job: WarmJob } | { problems: Problem[] };
  /** Unpins an API pin; a config pin is the config's to remove. */
  remove(id: string): 'removed' | 'unknown' | 'config';
  list(): PinView[];
  get(id: string): (PinView & { content: ImageContent | null }) | null;
  /** Digests pinned in a cache (current and pending sets): what the storage bound and the expiry keeper keep. */
  pinned(cache: string): Set<string>;
  totals(): { caches: Record<string, number>; bytes: number };
  /** Every pin, as data (the expiry keeper reads repositories and kinds). */
  all(): readonly Pin[];
  /** What warm jobs report to. */
  readonly sink: WarmPinSink;
  /** Re-resolves the API pins (at start: a tag may have moved while the daemon was down). */
  refreshApiPins(): void;
  /** Waits for the last write of the pins file. */
  flush(): Promise<void>;
}

const MAX_PINS = 1000;
const FILE_VERSION = 1;

const samePlatforms = (a: string[], b: string[]) => a.length === b.length && a.every((p, i) => p === b[i]);

/**
 * The pinned images: config pins follow the applied warm list, API pins persist in `file`. A pin's set is
 * recorded by the warm job that fetched it (WarmPinSink): pending as soon as its manifests are read, current
 * once every blob is fetched; then the previous set is released (it becomes ordinary LRU content).
 */
export function createPins(deps: {
  file: string;
  warm: Pick<WarmJobs, 'start'>;
  config: () => RegcacheConfig | null;
  clock: Clock;
  logger: Logger;
  events?: EventLog;
}): Pins {
  const log = deps.logger.child({ component: 'pins' });
  let pins: Pin[] = [];
  let writing: Promise<void> = Promise.resolve();
  const iso = () => isoTime(deps.clock.now());

  const save = () => {
    const text = JSON.stringify({ version: FILE_VERSION, pins }, null, 1);
    writing = writing
      .then(() => writeFileAtomic(deps.file, text, 0o600))
      .catch((err) => log.warn({ file: deps.file, err: errorMessage(err) }, 'could not write the pins file'));
  };

  const matching = (image: string, cache: string, platforms: string[]) =>
    pins.filter((p) => p.image === image && p.cache === cache && samePlatforms(p.platforms, platforms));

  const sink: WarmPinSink = {
    currentDigest(image, cache, platforms) {
      const found = matching(image, cache, platforms);
      // Unchanged only when every pin of this image already holds a set from the same digest.
      const digests = new Set(found.map((p) => (p.state === 'pinned' ? (p.content?.digest ?? null) : null)));
      return found.length > 0 && digests.size === 1 ? [...digests][0]! : null;
    },
    planned(image, cache, platforms, content) {
      for (const pin of matching(image, cache, platforms)) pin.pending = content;
      save();
    },
    resolved(image, cache, platforms, content) {
      for (const pin of matching(image, cache, platforms)) {
        const moved = pin.content && pin.content.digest !== content.digest;
        pin.content = content;
        pin.pending = null;
        pin.state = 'pinned';
        pin.error = null;
        pin.resolvedAt = iso();
        log.info({ pin: pin.id, image, cache, digest: content.digest, moved }, 'pin resolved');
        if (moved) deps.events?.record({ kind: 'pin', level: 'info', vhost: cache, message: `pin ${image} now holds ${content.digest}` });
      }
      save();
    },
    failed(image, cache, error) {
      for (const pin of pins.filter((p) => p.image === image && p.cache === cache)) {
        pin.pending = null;
        pin.error = error;
        // A pin that had a set keeps it (still pinned); the error says the refresh failed.
        if (!pin.content) pin.state = 'failed';
        deps.events?.record({ kind: 'pin', level: 'warn', vhost: cache, message: `pin ${image}: ${error}` });
      }
      save();
    },
  };

  const newPin = (source: PinSource, image: string, cache: string, platforms: string[]): Pin => ({
    id: pinId(source, image),
    source,
    image,
    cache,
    platforms,
    state: 'resolving',
    content: null,
    pending: null,
    resolvedAt: null,
    error: null,
    createdAt: iso(),
  });

  return {
    async load() {
      const text = await readFile(deps.file, 'utf8').catch(() => null);
      if (text === null) return;
      try {
        const doc = JSON.parse(text) as { version?: number; pins?: Pin[] };
        if (doc.version !== FILE_VERSION || !Array.isArray(doc.pins)) throw new Error(`not a version ${FILE_VERSION} pins file`);
        // A set being fetched when the daemon stopped was not complete: its job is gone.
        pins = doc.pins.map((p) => ({ ...p, pending: null }));
        log.info({ pins: pins.length }, 'pins loaded');
      } catch (err) {
        log.error({ file: deps.file, err: errorMessage(err) }, 'pins file unreadable: starting without pins');
        deps.events?.record({ kind: 'pin', level: 'error', vhost: null, message: `pins file ${deps.file} unreadable: ${errorMessage(err)}` });
      }
    },
    update(config) {
      const wanted = new Map<string, Pin>();
      for (const entry of config.warm.entries) {
        if (!entry.pin) continue;
        const target = resolveWarmTarget(entry.image, config);
        const platforms = warmPlatforms(entry.platforms ?? config.warm.platforms, config);
        // parse.ts rejects both already; an entry that slips through is not pinned rather than guessed.
        if ('error' in target || 'problem' in platforms) continue;
        const formatted = platforms.map(formatPlatform);
        const existing = pins.find((p) => p.source === 'config' && p.image === target.image);
        if (existing && existing.cache === target.cache && samePlatforms(existing.platforms, formatted)) wanted.set(existing.id, existing);
        else wanted.set(pinId('config', target.image), newPin('config', target.image, target.cache, formatted));
      }
      const before = pins.filter((p) => p.source === 'config');
      const changed = before.length !== wanted.size || before.some((p) => wanted.get(p.id) !== p);
      if (!changed) return;
      for (const p of before) if (!wanted.has(p.id)) log.info({ pin: p.id, image: p.image }, 'config pin released');
      pins = [...pins.filter((p) => p.source !== 'config'), ...wanted.values()];
      save();
    },
    add(request) {
      const config = deps.config();
      if (!config) return { problems: [{ path: '', message: 'no configuration applied yet' }] };
      if (typeof request.image !== 'string' || request.image === '') return { problems: [{ path: 'image', message: 'must be an image reference' }] };
      if (request.platforms != null && (!Array.isArray(request.platforms) || request.platforms.some((p) => typeof p !== 'string'))) {
        return { problems: [{ path: 'platforms', message: 'must be a list of os/arch strings' }] };
      }
      const target = resolveWarmTarget(request.image, config);
      if ('error' in target) return { problems: [{ path: 'image', message: target.error }] };
      const platforms = warmPlatforms(request.platforms as string[] | null | undefined, config);
      if ('problem' in platforms) return { problems: [{ path: 'platforms', message: platforms.problem }] };
      const formatted = platforms.map(formatPlatform);
      const id = pinId('api', target.image);
      let pin = pins.find((p) => p.id === id);
      if (!pin && pins.length >= MAX_PINS) return { problems: [{ path: 'image', message: `at most ${MAX_PINS} pins` }] };
      const started = deps.warm.start({ images: [target.image], platforms: formatted, pin: true }, 'api');
      if ('problems' in started) return started;
      if (!pin) {
        pin = newPin('api', target.image, target.cache, formatted);
        pins.push(pin);
      } else if (!samePlatforms(pin.platforms, formatted) || pin.cache !== target.cache) {
        // Other platforms: a new set; the old one stays pinned until the new one is complete.
        Object.assign(pin, { cache: target.cache, platforms: formatted, state: pin.content ? pin.state : 'resolving' });
      }
      save();
      log.info({ pin: pin.id, image: pin.image, cache: pin.cache, job: started.job.id }, 'pinned');
      return { pin: pinView(pin), job: started.job };
    },
    remove(id) {
      const pin = pins.find((p) => p.id === id);
      if (!pin) return 'unknown';
      if (pin.source === 'config') return 'config';
      pins = pins.filter((p) => p !== pin);
      save();
      log.info({ pin: id, image: pin.image }, 'unpinned');
      return 'removed';
    },
    list: () => pins.map(pinView),
    get(id) {
      const pin = pins.find((p) => p.id === id);
      return pin ? { ...pinView(pin), content: pin.content } : null;
    },
    pinned: (cache) => pinnedDigests(pins, cache),
    totals: () => pinTotals(pins),
    all: () => pins,
    sink,
    refreshApiPins() {
      // One job per platform set; each re-resolves (fetching nothing when the reference still has its digest).
      const groups = new Map<string, string[]>();
      for (const p of pins)
        if (p.source === 'api') groups.set(JSON.stringify(p.platforms), [...(groups.get(JSON.stringify(p.platforms)) ?? []), p.image]);
      for (const [platforms, images] of groups) {
        for (let i = 0; i < images.length; i += 100) {
          const started = deps.warm.start({ images: images.slice(i, i + 100), platforms: JSON.parse(platforms) as string[], pin: true }, 'pin');
          if ('problems' in started) log.warn({ problems: started.problems }, 'pins not re-resolved');
        }
      }
    },
    flush: () => writing,
  };
}
