import { request } from 'node:http';
import { PEER_HEADER, type PeerAddress } from '../config/sections/cluster.js';
import type { PeerProbe } from './peer-health.js';

/** The real probe: GET http://<peer>/__regcache/peer with the secret, 2 s at most. */
export function createHttpPeerProbe(timeoutMs = 2000): PeerProbe {
  return (peer: PeerAddress, secret: string) =>
    new Promise((resolve) => {
      const colon = peer.lastIndexOf(':');
      const host = peer.slice(0, colon).replace(/^\[|\]$/g, '');
      const req = request({ host, port: Number(peer.slice(colon + 1)), path: '/__regcache/peer', headers: { [PEER_HEADER]: secret }, timeout: timeoutMs }, (res) => {
        res.resume();
        resolve(res.statusCode === 200 ? null : `answered ${res.statusCode}`);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => resolve(err.message));
      req.end();
    });
}
