import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPortBook, portBookFile, readPortBook } from '../../../src/apply/runtime/port-book.js';

// Loopback sockets are the port book's only collaborator; its file lives in a temp dir.
const root = mkdtempSync(path.join(tmpdir(), 'regcache-port-book-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshFile = () => portBookFile(path.join(root, `d${n++}`));

function occupy(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
const close = (s: net.Server) => new Promise<void>((r) => s.close(() => r()));

describe('port book', () => {
  it('hands out distinct loopback ports per cache and remembers them across instances', async () => {
    const file = freshFile();
    const book = createPortBook(file);
    const [a, b] = await Promise.all([book.portsFor('docker.io'), book.portsFor('ghcr.io')]);
    const all = [a.port, a.debugPort, b.port, b.debugPort];
    expect(new Set(all).size).toBe(4);
    expect(await book.portsFor('docker.io')).toEqual(a);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'docker.io': a, 'ghcr.io': b });
    // A restarted daemon reads the same book.
    expect(await createPortBook(file).portsFor('ghcr.io')).toEqual(b);
  });

  it('replaces a remembered port that someone else holds now', async () => {
    const file = freshFile();
    const first = await createPortBook(file).portsFor('docker.io');
    const squatter = await occupy(first.port);
    try {
      const again = await createPortBook(file).portsFor('docker.io');
      expect(again.port).not.toBe(first.port);
      expect((await readPortBook(file))['docker.io']!.port).toBe(again.port);
    } finally {
      await close(squatter);
    }
  });

  it('keeps a remembered egress port without checking it, and picks a new one apart from cache ports', async () => {
    const file = freshFile();
    const book = createPortBook(file);
    const ports = await book.portsFor('docker.io');
    const egress = await book.egressPortFor('docker.io');
    expect([ports.port, ports.debugPort]).not.toContain(egress);
    // The egress nginx (ours) listens on it: still the same port.
    const ours = await occupy(egress);
    try {
      expect(await createPortBook(file).egressPortFor('docker.io')).toBe(egress);
    } finally {
      await close(ours);
    }
    // Adding the egress port kept the cache ports.
    expect((await readPortBook(file))['docker.io']).toEqual({ ...ports, egressPort: egress });
  });

  it('release() forgets a cache', async () => {
    const file = freshFile();
    const book = createPortBook(file);
    await book.portsFor('docker.io');
    await book.portsFor('ghcr.io');
    await book.release('docker.io');
    expect(Object.keys(await readPortBook(file))).toEqual(['ghcr.io']);
  });

  it("release() forgets the hop ports of a cache's upstream mirrors too, and only its own", async () => {
    const file = freshFile();
    const book = createPortBook(file);
    const hops = await Promise.all([book.egressPortFor('docker.io#0'), book.egressPortFor('docker.io#1'), book.egressPortFor('docker.io.example#0')]);
    expect(new Set(hops).size).toBe(3);
    await book.portsFor('docker.io');
    await book.release('docker.io');
    expect(Object.keys(await readPortBook(file))).toEqual(['docker.io.example#0']);
  });

  it('reads an absent or broken book as empty', async () => {
    const file = freshFile();
    expect(await readPortBook(file)).toEqual({});
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '{not json');
    expect(await readPortBook(file)).toEqual({});
    const ports = await createPortBook(file).portsFor('docker.io');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'docker.io': ports });
  });
});
