// Builds a small image from programs installed on this machine (binary + the shared libraries ldd names),
// with `docker import`: test images without any registry to pull from.
import { execFile, spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { requireDocker } from './docker-cli.js';

const run = promisify(execFile);

export interface HostImageSpec {
  tag: string;
  /** Host binaries and where they go in the image; their libraries come along. */
  binaries: Array<{ src: string; dest: string }>;
  /** Files written with this content. */
  files?: Record<string, string>;
  /** Host files copied to the same path when they exist. */
  hostFiles?: string[];
  /** Empty directories (world-writable, like /tmp). */
  dirs?: string[];
  /** Dockerfile instructions for `docker import --change`. */
  changes: string[];
}

/** Shared libraries (and the loader) a dynamically linked binary needs, from ldd. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]).catch(() => ({ stdout: '' }));
  const libs = new Set<string>();
  for (const line of stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.add(m[1]!);
  }
  return [...libs];
}

/** Copies files into rootfs at the same paths (symlinked loaders resolve via copyFile's dereference). */
async function copyInto(rootfs: string, files: string[]): Promise<void> {
  for (const file of files) {
    const dest = join(rootfs, file);
    await mkdir(dirname(dest), { recursive: true });
    await copyFile(file, dest);
  }
}

async function importRootfs(rootfs: string, tag: string, changes: string[]): Promise<void> {
  const bin = requireDocker();
  const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const args = ['import', ...changes.flatMap((c) => ['--change', c]), '-', tag];
  const imp = spawn(bin, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  // A failed import closes its stdin early; its stderr says why, so pipe errors are not interesting.
  imp.stdin.on('error', () => undefined);
  tar.on('error', () => undefined);
  tar.stdout.pipe(imp.stdin);
  let stderr = '';
  imp.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => imp.once('close', resolve));
  if (code !== 0) throw new Error(`docker import ${tag} failed: ${stderr.trim()}`);
}

export async function buildImageFromHost(spec: HostImageSpec): Promise<void> {
  const rootfs = await mkdtemp(join(tmpdir(), 'regcache-image-rootfs-'));
  try {
    for (const { src, dest } of spec.binaries) {
      await mkdir(join(rootfs, dirname(dest)), { recursive: true });
      await copyFile(src, join(rootfs, dest));
      await copyInto(rootfs, await sharedLibraries(src));
    }
    for (const f of spec.hostFiles ?? []) await copyInto(rootfs, [f]).catch(() => undefined);
    for (const [path, content] of Object.entries(spec.files ?? {})) {
      await mkdir(join(rootfs, dirname(path)), { recursive: true });
      await writeFile(join(rootfs, path), content);
    }
    for (const d of ['/tmp', ...(spec.dirs ?? [])]) {
      await mkdir(join(rootfs, d), { recursive: true });
      await chmod(join(rootfs, d), 0o1777);
    }
    await importRootfs(rootfs, spec.tag, spec.changes);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
}
