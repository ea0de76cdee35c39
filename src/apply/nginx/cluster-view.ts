import { formatListen } from '../../config/address.js';
import type { ClusterConfig } from '../../config/sections/cluster.js';
import type { Membership } from '../../cluster/membership.js';

/** What the cluster partials read (templates/nginx/cluster-*.ejs). */
export interface NginxClusterView {
  /** This node's peer listener, `address:port`. */
  listen: string;
  /** Its port, so the access log can tell peer requests from client requests. */
  listenPort: number;
  self: string;
  /** The ring's servers (peer listeners, this node's included), sorted. */
  peers: string[];
  /** The shared secret every peer request carries (header X-Regcache-Peer, PEER_HEADER). */
  secret: string;
  /** How long connecting to an owner may take before the next node on the ring is tried. */
  connectTimeout: string;
  /** Failed connects (counted per node, shared by its workers) within failTimeout that leave a peer out. */
  maxFails: number;
  /** After maxFails failed connects a peer is skipped for this long, then tried again. */
  failTimeout: string;
  /** How long after the request started another owner may still be tried. */
  nextUpstreamTimeout: string;
  /** Every peer once at most. */
  tries: number;
}

/** Failover bound (issue 13: ≤ 2 s): a refused connect moves on at once, a silent peer after 1 s. */
const CONNECT_TIMEOUT = '1s';
const FAIL_TIMEOUT = '5s';
// Two, not one: a peer that reloads closes the kept-alive connections to it, and one such reset
// must not take it (or this node itself) off the ring.
const MAX_FAILS = 2;
const NEXT_UPSTREAM_TIMEOUT = '2s';

export function clusterView(config: ClusterConfig, membership: Membership): NginxClusterView {
  return {
    listen: formatListen(config.listen),
    listenPort: config.listen.port,
    self: membership.self,
    peers: membership.members,
    secret: config.secret,
    connectTimeout: CONNECT_TIMEOUT,
    maxFails: MAX_FAILS,
    failTimeout: FAIL_TIMEOUT,
    nextUpstreamTimeout: NEXT_UPSTREAM_TIMEOUT,
    tries: membership.members.length,
  };
}
