import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { nginxEnv, NGINX_MALLOC_TOP_PAD } from '../../../src/apply/nginx/nginx-env.js';
import { procChildren } from '../../../src/apply/nginx/nginx-workers.js';

describe('procChildren', () => {
  it('lists the children of a process with their command lines, and nothing of other processes', async () => {
    const parent = spawn('sh', ['-c', 'sleep 30 & sleep 31 & wait'], { stdio: 'ignore' });
    try {
      // Until both children have exec'd sleep (a fork's command line is the shell's for a moment).
      const titles = (list: Awaited<ReturnType<typeof procChildren>>) => list.map((c) => c.title).sort();
      let children = await procChildren(parent.pid!);
      for (let i = 0; i < 100 && titles(children).join() !== 'sleep 30,sleep 31'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        children = await procChildren(parent.pid!);
      }
      expect(titles(children)).toEqual(['sleep 30', 'sleep 31']);
      expect(await procChildren(children[0]!.pid)).toEqual([]);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('nginxEnv', () => {
  it('adds the heap padding, keeping the rest of the environment', () => {
    expect(nginxEnv({ PATH: '/bin' })).toEqual({ PATH: '/bin', MALLOC_TOP_PAD_: NGINX_MALLOC_TOP_PAD });
  });

  it("leaves an operator's own malloc setting alone", () => {
    expect(nginxEnv({ MALLOC_TOP_PAD_: '0' })).toEqual({ MALLOC_TOP_PAD_: '0' });
    expect(nginxEnv({ GLIBC_TUNABLES: 'glibc.malloc.top_pad=0' })).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.top_pad=0' });
  });
});
