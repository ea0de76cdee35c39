import { describe, expect, it } from 'vitest';
import { canEnter, decideWorkerUser, lookupAccount, type DirectoryMode } from '../../../src/apply/nginx/worker-user.js';

const passwd = 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nweb:x:33:33::/var/www:/bin/false\n';
const groups = 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n';
const nobody = lookupAccount('nobody', passwd, groups)!;
const dir = (path: string, mode: number, uid = 0, gid = 0): DirectoryMode => ({ path, mode, uid, gid });
const openChain = [dir('/', 0o755), dir('/var', 0o755), dir('/var/lib/regcache', 0o755)];

describe('nginx worker user', () => {
  it('reads the account and its primary group name', () => {
    expect(nobody).toEqual({ user: 'nobody', group: 'nogroup', uid: 65534, gid: 65534 });
    expect(lookupAccount('web', passwd, groups)).toEqual({ user: 'web', group: 'www-data', uid: 33, gid: 33 });
    expect(lookupAccount('ghost', passwd, groups)).toBeNull();
  });

  it('checks search permission as owner, group or other', () => {
    expect(canEnter(dir('/x', 0o700), nobody)).toBe(false);
    expect(canEnter(dir('/x', 0o701), nobody)).toBe(true);
    expect(canEnter(dir('/x', 0o750, 0, 65534), nobody)).toBe(true);
    expect(canEnter(dir('/x', 0o705, 0, 65534), nobody)).toBe(false);
    expect(canEnter(dir('/x', 0o100, 65534, 0), nobody)).toBe(true);
  });

  it('names nobody and its group explicitly when the daemon runs as root', () => {
    expect(decideWorkerUser({ isRoot: true, configured: null, account: nobody, chain: openChain })).toMatchObject({
      kind: 'account',
      directive: 'nobody nogroup',
    });
  });

  it('leaves the directive out when nginx cannot switch users', () => {
    expect(decideWorkerUser({ isRoot: false, configured: 'web', account: null, chain: [] })).toEqual({ kind: 'unprivileged', directive: null });
  });

  it('falls back to root when the default user cannot reach the cache, and says why', () => {
    const chain = [dir('/', 0o755), dir('/root', 0o700), dir('/root/data', 0o755)];
    expect(decideWorkerUser({ isRoot: true, configured: null, account: nobody, chain })).toEqual({
      kind: 'root-fallback',
      directive: 'root root',
      reason: 'nobody cannot enter /root (mode 700), where nginx keeps its cache',
    });
  });

  it('refuses a configured user that cannot reach the cache or does not exist', () => {
    const chain = [dir('/', 0o755), dir('/srv', 0o750)];
    const web = lookupAccount('web', passwd, groups);
    expect(decideWorkerUser({ isRoot: true, configured: 'web', account: web, chain })).toMatchObject({
      kind: 'error',
      message: expect.stringMatching(/^nginx.user: web cannot enter \/srv/),
    });
    expect(decideWorkerUser({ isRoot: true, configured: 'ghost', account: null, chain })).toMatchObject({
      kind: 'error',
      message: expect.stringMatching(/no such user "ghost"/),
    });
  });
});
