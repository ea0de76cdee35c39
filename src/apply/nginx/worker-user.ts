import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Who nginx's worker processes run as. They, not the master, write the proxy cache and temp files,
 * so every directory on the way to them must let that user in.
 */
export interface WorkerAccount {
  user: string;
  group: string;
  uid: number;
  gid: number;
}

export interface DirectoryMode {
  path: string;
  mode: number;
  uid: number;
  gid: number;
}

/** nginx's own default worker user when the master runs as root. */
export const DEFAULT_WORKER_USER = 'nobody';

/** Looks a user up in /etc/passwd and /etc/group text; null when absent. */
export function lookupAccount(user: string, passwd: string, groups: string): WorkerAccount | null {
  const entry = passwd
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === user && fields.length >= 4);
  if (!entry) return null;
  const uid = Number(entry[2]);
  const gid = Number(entry[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
  const group = groups
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields.length >= 3 && Number(fields[2]) === gid)?.[0];
  return group ? { user, group, uid, gid } : null;
}

/** Whether `account` may enter (search) a directory with these permission bits. */
export function canEnter(dir: DirectoryMode, account: { uid: number; gid: number }): boolean {
  if (account.uid === 0) return true;
  if (dir.uid === account.uid) return (dir.mode & 0o100) !== 0;
  if (dir.gid === account.gid) return (dir.mode & 0o010) !== 0;
  return (dir.mode & 0o001) !== 0;
}

/** The first directory of `chain` (root first) that `account` cannot enter, or null. */
export function firstBlockedDirectory(chain: DirectoryMode[], account: { uid: number; gid: number }): DirectoryMode | null {
  return chain.find((dir) => !canEnter(dir, account)) ?? null;
}

/** `dir` and its ancestors, root first, with their modes. */
export async function directoryChain(dir: string): Promise<DirectoryMode[]> {
  const chain: DirectoryMode[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const s = await stat(current);
    chain.unshift({ path: current, mode: s.mode, uid: s.uid, gid: s.gid });
    if (path.dirname(current) === current) return chain;
  }
}

export type WorkerUserDecision =
  | { kind: 'unprivileged'; directive: null }
  | { kind: 'account'; directive: string; account: WorkerAccount }
  | { kind: 'root-fallback'; directive: string; reason: string }
  | { kind: 'error'; message: string };

/**
 * Chooses the `user` directive. Not root: nginx cannot switch users, workers run as the daemon.
 * Root: the configured user, else nobody, as long as it can reach `dataDir/nginx`; when the default
 * user cannot (a 0700 home or temp directory on the way), workers run as root rather than fail.
 */
export function decideWorkerUser(input: {
  isRoot: boolean;
  configured: string | null;
  account: WorkerAccount | null;
  chain: DirectoryMode[];
}): WorkerUserDecision {
  if (!input.isRoot) return { kind: 'unprivileged', directive: null };
  const name = input.configured ?? DEFAULT_WORKER_USER;
  if (!input.account) {
    if (input.configured) return { kind: 'error', message: `nginx.user: no such user "${name}" (or its primary group has no name)` };
    return { kind: 'root-fallback', directive: 'root root', reason: `user ${name} does not exist` };
  }
  const blocked = firstBlockedDirectory(input.chain, input.account);
  if (!blocked) return { kind: 'account', directive: `${input.account.user} ${input.account.group}`, account: input.account };
  const why = `${name} cannot enter ${blocked.path} (mode ${(blocked.mode & 0o777).toString(8)}), where nginx keeps its cache`;
  if (input.configured) return { kind: 'error', message: `nginx.user: ${why}; make the directory reachable (chmod o+x) or choose another user` };
  return { kind: 'root-fallback', directive: 'root root', reason: why };
}

/** Reads the account database and the directory chain, then decides. */
export async function resolveWorkerUser(configured: string | null, nginxDir: string): Promise<WorkerUserDecision> {
  const isRoot = process.geteuid?.() === 0;
  if (!isRoot) return decideWorkerUser({ isRoot, configured, account: null, chain: [] });
  const [passwd, groups] = await Promise.all([readFile('/etc/passwd', 'utf8').catch(() => ''), readFile('/etc/group', 'utf8').catch(() => '')]);
  const account = lookupAccount(configured ?? DEFAULT_WORKER_USER, passwd, groups);
  return decideWorkerUser({ isRoot, configured, account, chain: await directoryChain(nginxDir) });
}
