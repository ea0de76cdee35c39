import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildRing, ringOrder, ringOwner, ringShares } from '../../../src/cluster/ring.js';

const digest = (i: number) => `sha256:${createHash('sha256').update(`blob ${i}`).digest('hex')}`;
const THREE = ['127.0.0.11:5001', '127.0.0.12:5001', '127.0.0.13:5001'];

function owners(servers: string[], keys: number): Map<string, number> {
  const ring = buildRing(servers);
  const counts = new Map<string, number>();
  for (let i = 0; i < keys; i++) {
    const owner = ringOwner(ring, digest(i))!;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return counts;
}

describe('consistent-hash ring (nginx hash … consistent)', () => {
  it('gives every server 160 points and shares that add up to the whole ring', () => {
    const ring = buildRing(THREE);
    expect(ring).toHaveLength(480);
    const shares = ringShares(ring);
    expect([...shares.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    for (const share of shares.values()) expect(share).toBeGreaterThan(0.2);
  });

  it('splits many digests roughly evenly over three servers', () => {
    const counts = owners(THREE, 3000);
    expect([...counts.keys()].sort()).toEqual(THREE);
    for (const n of counts.values()) expect(n).toBeGreaterThan(3000 / 3 / 1.5);
    // Measured shares and counted owners agree.
    const shares = ringShares(buildRing(THREE));
    for (const [server, n] of counts) expect(Math.abs(n / 3000 - shares.get(server)!)).toBeLessThan(0.04);
  });

  it('moves only the leaving server’s keys (~1/N) when one of four leaves, and ~1/N to a joining one', () => {
    const four = [...THREE, '127.0.0.14:5001'];
    const before = buildRing(four);
    const after = buildRing(THREE);
    let moved = 0;
    for (let i = 0; i < 4000; i++) {
      const a = ringOwner(before, digest(i));
      const b = ringOwner(after, digest(i));
      if (a !== b) {
        moved++;
        // Only keys of the server that left move; the rest keep their owner.
        expect(a).toBe('127.0.0.14:5001');
        // …and go where nginx would send them while that server is down: the next one on the ring.
        expect(ringOrder(before, digest(i))[1]).toBe(b);
      }
    }
    expect(moved / 4000).toBeGreaterThan(0.15);
    expect(moved / 4000).toBeLessThan(0.35);
  });

  it('orders every server once for failover, owner first; no servers, no owner', () => {
    const order = ringOrder(buildRing(THREE), digest(1));
    expect([...order].sort()).toEqual(THREE);
    expect(order[0]).toBe(ringOwner(buildRing(THREE), digest(1)));
    expect(ringOwner(buildRing([]), digest(1))).toBeNull();
  });

  it('does not depend on the order servers are listed in', () => {
    const a = buildRing(THREE);
    const b = buildRing([...THREE].reverse());
    for (let i = 0; i < 200; i++) expect(ringOwner(a, digest(i))).toBe(ringOwner(b, digest(i)));
  });
});
