import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

/** Watches the files a config points at; the set follows the applied config. */
export interface ReferencedFilesWatcher {
  /** Replaces the watched set (absolute paths). */
  update(files: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Certificates renewed by certbot or cert-manager, rotated password files: their directories are
 * watched, as for the config file, so replace-by-rename and symlink swaps are seen. Events are hints
 * for the scheduler; the periodic resync re-reads every file anyway, so a missed event costs only time.
 */
export function watchReferencedFiles(onChange: (event: string) => void): ReferencedFilesWatcher {
  let watcher: FSWatcher | null = null;
  let current = '';
  return {
    async update(files) {
      const key = [...files].sort().join('\n');
      if (key === current) return;
      current = key;
      await watcher?.close();
      watcher = null;
      if (files.length === 0) return;
      const interesting = new Set(files.map((f) => path.resolve(f)));
      const dirs = [...new Set([...interesting].map((f) => path.dirname(f)))];
      const w = watch(dirs, {
        depth: 0,
        ignoreInitial: true,
        ignored: (p: string) => !dirs.includes(p) && !interesting.has(path.resolve(p)) && !p.includes('..data'),
      });
      w.on('all', (event, p) => onChange(`${event} ${path.basename(p)}`));
      await new Promise<void>((resolve) => w.once('ready', () => resolve()));
      watcher = w;
    },
    async stop() {
      await watcher?.close();
      watcher = null;
    },
  };
}
