import { crc32 } from 'node:zlib';
import type { PeerAddress } from '../config/sections/cluster.js';

/**
 * nginx's `hash … consistent` ring (ngx_http_upstream_hash_module, ketama-compatible), computed
 * here so status can show each peer's share and tests can name a key's owner without asking nginx.
 * Each server gets 160 points: crc32 of "host\0port" followed by the previous point's hash.
 */

export interface RingPoint {
  hash: number;
  server: PeerAddress;
}

const POINTS_PER_SERVER = 160;

export function buildRing(servers: readonly PeerAddress[]): RingPoint[] {
  const points: RingPoint[] = [];
  for (const server of servers) {
    const colon = server.lastIndexOf(':');
    const base = Buffer.concat([Buffer.from(server.slice(0, colon)), Buffer.from([0]), Buffer.from(server.slice(colon + 1))]);
    const prev = Buffer.alloc(4);
    for (let j = 0; j < POINTS_PER_SERVER; j++) {
      const hash = crc32(prev, crc32(base));
      points.push({ hash, server });
      prev.writeUInt32LE(hash);
    }
  }
  // nginx sorts by hash and drops repeated hashes (which of two colliding servers wins is unspecified there too).
  points.sort((a, b) => a.hash - b.hash);
  return points.filter((p, i) => i === 0 || p.hash !== points[i - 1]!.hash);
}

/** The first point at or after the key's hash, wrapping around: the key's owner while every server is up. */
export function ringOwner(ring: readonly RingPoint[], key: string): PeerAddress | null {
  return ringOrder(ring, key)[0] ?? null;
}

/**
 * The servers in the order nginx tries them for a key: the owner, then the next distinct servers
 * along the ring (where a request goes when the owner is marked failed).
 */
export function ringOrder(ring: readonly RingPoint[], key: string): PeerAddress[] {
  if (ring.length === 0) return [];
  const hash = crc32(Buffer.from(key));
  let lo = 0;
  let hi = ring.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ring[mid]!.hash < hash) lo = mid + 1;
    else hi = mid;
  }
  const order: PeerAddress[] = [];
  for (let i = 0; i < ring.length; i++) {
    const server = ring[(lo + i) % ring.length]!.server;
    if (!order.includes(server)) order.push(server);
  }
  return order;
}

/** Share of the 32-bit key space each server owns (0..1), by the arcs that end at its points. */
export function ringShares(ring: readonly RingPoint[]): Map<PeerAddress, number> {
  const shares = new Map<PeerAddress, number>();
  const SPACE = 2 ** 32;
  ring.forEach((point, i) => {
    const previous = i === 0 ? ring[ring.length - 1]!.hash - SPACE : ring[i - 1]!.hash;
    shares.set(point.server, (shares.get(point.server) ?? 0) + (point.hash - previous) / SPACE);
  });
  return shares;
}
