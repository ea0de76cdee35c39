import { describe, expect, it } from 'vitest';
import { startComponents, type Component } from '../../../src/util/components.js';

function recorded(names: string[], opts: { failStart?: string; failStop?: string } = {}) {
  const calls: string[] = [];
  const components: Component[] = names.map((name) => ({
    name,
    start: async () => {
      calls.push(`start ${name}`);
      if (name === opts.failStart) throw new Error(`${name} would not start`);
    },
    stop: async () => {
      calls.push(`stop ${name}`);
      if (name === opts.failStop) throw new Error(`${name} would not stop`);
    },
  }));
  return { calls, components };
}

describe('startComponents', () => {
  it('starts in list order and stops in reverse order', async () => {
    const t = recorded(['nginx', 'scheduler', 'admin']);
    const stop = await startComponents(t.components);
    expect(t.calls).toEqual(['start nginx', 'start scheduler', 'start admin']);
    await stop();
    expect(t.calls.slice(3)).toEqual(['stop admin', 'stop scheduler', 'stop nginx']);
  });

  it('a failed start stops what already started, newest first, not the one that failed, and rethrows', async () => {
    const t = recorded(['nginx', 'scheduler', 'first pass', 'admin'], { failStart: 'first pass' });
    await expect(startComponents(t.components)).rejects.toThrow('first pass would not start');
    expect(t.calls).toEqual(['start nginx', 'start scheduler', 'start first pass', 'stop scheduler', 'stop nginx']);
  });

  it('stopping carries on past a failing stop, then throws its error; a component without start() is only stopped', async () => {
    const t = recorded(['scheduler', 'admin'], { failStop: 'admin' });
    let runtimeStopped = false;
    const stop = await startComponents([{ name: 'runtime', stop: () => void (runtimeStopped = true) }, ...t.components]);
    await expect(stop()).rejects.toThrow('admin would not stop');
    expect(t.calls.slice(2)).toEqual(['stop admin', 'stop scheduler']);
    expect(runtimeStopped).toBe(true);
    // Stopped once: a second stop has nothing left to stop.
    await stop();
    expect(t.calls).toHaveLength(4);
  });
});
