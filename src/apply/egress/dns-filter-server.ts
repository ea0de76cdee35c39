import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '../../log.js';
import { filterDnsResponse, NO_TRUST, parseDnsMessage, type DnsPolicy } from './dns-filter.js';

/**
 * The egress nginx's resolver: a UDP DNS forwarder on loopback that passes each query to the real
 * nameservers and refuses answers that lead to internal addresses (dns-filter.ts). One socket per
 * query keeps IDs apart without bookkeeping; nginx asks only for upstream and redirect hosts.
 */
export interface DnsFilterServer {
  /** The address nginx's `resolver` directive names (`127.0.0.1:<port>`). */
  readonly address: string;
  /** The nameservers to ask and what they may answer; applied with each egress config. */
  update(nameservers: readonly string[], policy: DnsPolicy): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const QUERY_TIMEOUT_MS = 5000;
const MAX_IN_FLIGHT = 256;

export function createDnsFilterServer(opts: { port: number; logger: Logger; onRefused?: (reason: string) => void }): DnsFilterServer {
  const log = opts.logger.child({ component: 'dns-filter' });
  let nameservers: readonly string[] = [];
  let policy: DnsPolicy = NO_TRUST;
  let socket: dgram.Socket | null = null;
  let inFlight = 0;

  const forward = (query: Buffer, reply: (answer: Buffer) => void) => {
    const servers = nameservers;
    if (servers.length === 0 || inFlight >= MAX_IN_FLIGHT || !parseDnsMessage(query)) return;
    inFlight++;
    const ask = (i: number) => {
      const server = servers[i];
      if (server === undefined) {
        inFlight--;
        return;
      }
      const out = dgram.createSocket(net.isIPv6(server) ? 'udp6' : 'udp4');
      const timer = setTimeout(() => {
        out.close();
        ask(i + 1);
      }, QUERY_TIMEOUT_MS);
      out.on('error', () => {
        clearTimeout(timer);
        out.close();
        ask(i + 1);
      });
      out.on('message', (response) => {
        clearTimeout(timer);
        out.close();
        inFlight--;
        const { answer, refused } = filterDnsResponse(response, policy);
        if (refused) {
          log.warn({ reason: refused }, 'DNS answer refused: an internal address for a name the upstreams do not use');
          opts.onRefused?.(refused);
        }
        reply(answer);
      });
      out.send(query, 53, server);
    };
    ask(0);
  };

  return {
    address: `127.0.0.1:${opts.port}`,
    update(servers, next) {
      nameservers = [...servers];
      policy = next;
    },
    async start() {
      const s = dgram.createSocket('udp4');
      s.on('message', (query, from) => forward(query, (answer) => s.send(answer, from.port, from.address)));
      s.on('error', (err) => log.error({ err: err.message }, 'DNS filter socket error'));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(opts.port, '127.0.0.1', () => {
          s.off('error', reject);
          resolve();
        });
      });
      socket = s;
    },
    async stop() {
      const s = socket;
      socket = null;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}
