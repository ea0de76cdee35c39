import path from 'node:path';
import { watch } from 'chokidar';

export interface ConfigWatcher {
  stop(): Promise<void>;
}

/**
 * Watches the config file and the `.env` beside it. The directory is watched rather than the
 * file, so editors that save by writing a new file and renaming it over the old one, and a file
 * deleted and created again, are all seen. Events are only a hint: the scheduler coalesces them.
 */
export async function watchConfigFile(file: string, onChange: (event: string) => void): Promise<ConfigWatcher> {
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const interesting = new Set([target, path.join(dir, '.env')]);
  const watcher = watch(dir, {
    depth: 0,
    ignoreInitial: true,
    // A directory in the file's place is not followed: chokidar would then stop reporting the
    // file once it is back (seen in the fault suite); the failed read is reported by the loader.
    ignored: (p: string, stats?: { isDirectory(): boolean }) => p !== dir && (!interesting.has(path.resolve(p)) || stats?.isDirectory() === true),
  });
  watcher.on('all', (event, p) => onChange(`${event} ${path.basename(p)}`));
  // Until the initial scan is done, changes go unseen.
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return { stop: () => watcher.close() };
}
