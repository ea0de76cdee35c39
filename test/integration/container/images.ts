// The regcache image, built from the repository's Dockerfile, for the container tests. Its base images
// (node:20-bookworm-slim, debian:bookworm-slim) cannot be pulled on test machines, so stand-ins are built
// under those exact tags when they are missing: a Debian root filesystem from Debian's packages
// (mmdebstrap, slimmed like the official image) plus this machine's node binary and npm. Only the
// stand-ins get the machine's CA bundle (npm and apt may sit behind a TLS-intercepting proxy here);
// the Dockerfile users build stays as it is. Real images under those tags are used as they are.
import { execFile, spawn } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, open, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { requireBinary } from '../../helpers/binaries.js';
import { BUILD_LABEL, docker, imageLabel, requireDocker, requireDockerEngine } from '../../helpers/registry-image.js';

const run = promisify(execFile);
/** The checkout: found upwards from here, so the compiled copy the benchmark runs (bench/out/…) finds it too. */
export const REPO_ROOT = findRepoRoot(import.meta.dirname);
export const DEBIAN_BASE = 'debian:bookworm-slim';
export const NODE_BASE = 'node:20-bookworm-slim';
/** The tag the tests build the Dockerfile under (compose and the stack read it from REGCACHE_IMAGE). */
export const REGCACHE_TEST_IMAGE = 'regcache-test/regcache:latest';
const STAND_IN = 'stand-in-v2';

// What debian:bookworm-slim leaves out (debuerreotype's slimming); kept for later apt installs too.
const SLIM_EXCLUDES = [
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
  'path-exclude=/usr/share/lintian/*',
];

// Debian's images keep no .deb files, package caches or translations after apt runs.
const APT_DOCKER_CLEAN = [
  'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
  'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
  'Dir::Cache::pkgcache "";',
  'Dir::Cache::srcpkgcache "";',
  'Acquire::Languages "none";',
];

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'Dockerfile')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no Dockerfile and package.json in ${from} or above`);
  }
}

/** Runs a command with output to a log; throws with the log's tail when it fails. */
export async function logged(command: string, args: string[], opts: { cwd?: string; log: string }): Promise<void> {
  const out = await open(opts.log, 'a');
  try {
    const child = spawn(command, args, { cwd: opts.cwd, stdio: ['ignore', out.fd, out.fd] });
    const code = await new Promise<number | null>((done, fail) => {
      child.once('error', fail);
      child.once('close', done);
    });
    if (code !== 0) {
      const tail = (await readFile(opts.log, 'utf8')).split('\n').slice(-40).join('\n');
      throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${tail}`);
    }
  } finally {
    await out.close();
  }
}

/**
 * One builder at a time across test files (vitest runs two in parallel): a lock file holding the owner's
 * PID; a lock whose owner is gone is taken over. `name` tells locks for different images apart.
 */
export async function withBuildLock<T>(fn: () => Promise<T>, name = 'regcache-container-image'): Promise<T> {
  const lock = join(tmpdir(), `${name}.lock`);
  for (;;) {
    try {
      const handle = await open(lock, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(lock, 'utf8').catch(() => ''));
      let alive = false;
      try {
        alive = owner > 0 && process.kill(owner, 0);
      } catch {
        alive = false;
      }
      if (!alive && owner > 0) await unlink(lock).catch(() => undefined);
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

/** `docker build` on the host's network: the default bridge (docker0) is not always there on test machines. */
async function dockerBuild(args: string[], log: string): Promise<void> {
  const bin = requireDocker();
  try {
    await logged(bin, ['build', '--network', 'host', ...args], { log });
  } catch (err) {
    throw new Error(`docker build failed (log ${log}); it uses host networking, so the default bridge is not the cause:\n${(err as Error).message}`);
  }
}

async function buildDebianStandIn(work: string, log: string): Promise<void> {
  const mmdebstrap = requireBinary(['mmdebstrap']);
  const rootfs = join(work, 'rootfs.tar');
  // Like Debian's images: package scripts do not start services during builds, and no stale apt lists.
  const hook = [
    `printf '#!/bin/sh\\nexit 101\\n' > "$1/usr/sbin/policy-rc.d"`,
    'chmod 755 "$1/usr/sbin/policy-rc.d"',
    `printf '%s\\n' ${APT_DOCKER_CLEAN.map((l) => `'${l}'`).join(' ')} > "$1/etc/apt/apt.conf.d/docker-clean"`,
    'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb',
  ].join(' && ');
  await logged(
    mmdebstrap,
    [
      '--variant=minbase',
      // Merged /usr as Debian's images have it, without the usrmerge package (which pulls in perl).
      '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
      ...SLIM_EXCLUDES.map((o) => `--dpkgopt=${o}`),
      `--customize-hook=${hook}`,
      'bookworm',
      rootfs,
    ],
    { log },
  );
  await logged(requireDocker(), ['import', '--change', 'CMD ["bash"]', '--change', `LABEL ${BUILD_LABEL}=${STAND_IN}`, rootfs, DEBIAN_BASE], { log });
}

async function buildNodeStandIn(work: string, log: string): Promise<void> {
  const node = requireBinary(['node']);
  const { stdout: npmRoot } = await run(node, [
    '-e',
    'process.stdout.write(require("path").resolve(process.execPath, "../../lib/node_modules/npm"))',
  ]);
  const npmDir = (await stat(npmRoot).catch(() => null)) ? npmRoot : '/usr/local/lib/node_modules/npm';
  const { stdout: cafile } = await run('npm', ['config', 'get', 'cafile']).catch(() => ({ stdout: '' }));
  const ca = cafile.trim() && cafile.trim() !== 'null' ? cafile.trim() : '/etc/ssl/certs/ca-certificates.crt';
  const ctx = join(work, 'node');
  await mkdir(ctx, { recursive: true });
  await copyFile(node, join(ctx, 'node'));
  await cp(npmDir, join(ctx, 'npm'), { recursive: true, dereference: true });
  await copyFile(ca, join(ctx, 'host-ca.crt'));
  const version = (await run(node, ['--version'])).stdout.trim().replace(/^v/, '');
  await writeFile(
    join(ctx, 'Dockerfile'),
    [
      `FROM ${DEBIAN_BASE}`,
      'COPY node /usr/local/bin/node',
      'COPY npm /usr/local/lib/node_modules/npm',
      'COPY host-ca.crt /usr/local/share/regcache-stand-in/host-ca.crt',
      'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\',
      ' && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node',
      `ENV NODE_VERSION=${version} NODE_EXTRA_CA_CERTS=/usr/local/share/regcache-stand-in/host-ca.crt npm_config_cafile=/usr/local/share/regcache-stand-in/host-ca.crt`,
      'CMD ["node"]',
      `LABEL ${BUILD_LABEL}=${STAND_IN}`,
      '',
    ].join('\n'),
  );
  await dockerBuild(['-t', NODE_BASE, ctx], log);
}

/** Missing, or a stand-in of an older recipe; an image without our label is a real one and stays. */
async function needsStandIn(tag: string): Promise<boolean> {
  const label = await imageLabel(tag);
  return label === undefined || (label !== null && label !== STAND_IN);
}

/** Builds the stand-in base images that are missing (a real image under a tag is left alone). */
export async function ensureBaseImages(log: string): Promise<void> {
  await requireDockerEngine();
  const work = await mkdtemp(join(tmpdir(), 'regcache-stand-in-'));
  try {
    if (await needsStandIn(DEBIAN_BASE)) await buildDebianStandIn(work, log);
    if (await needsStandIn(NODE_BASE)) await buildNodeStandIn(work, log);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Builds the repository's Dockerfile as REGCACHE_TEST_IMAGE. Docker's layer cache makes a second build in
 * one run (another test file) take seconds; the lock keeps two files from building at once.
 */
export async function ensureRegcacheImage(): Promise<string> {
  const log = join(REPO_ROOT, 'test', 'artifacts', 'container-image-build.log');
  await mkdir(join(REPO_ROOT, 'test', 'artifacts'), { recursive: true });
  return withBuildLock(async () => {
    await ensureBaseImages(log);
    await dockerBuild(['-t', REGCACHE_TEST_IMAGE, '-f', join(REPO_ROOT, 'Dockerfile'), REPO_ROOT], log);
    return REGCACHE_TEST_IMAGE;
  });
}

/** Size of an image in bytes, as `docker image inspect` reports it. */
export async function imageSize(tag: string): Promise<number> {
  return Number((await docker(['image', 'inspect', '--format', '{{.Size}}', tag])).trim());
}
