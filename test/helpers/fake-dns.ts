// A tiny authoritative DNS server for tests: A records from a table, nothing else (AAAA: no records).
import dgram from 'node:dgram';
import { dnsAnswer } from './dns-packets.js';

export interface FakeDns {
  address: string;
  /** Names asked so far, lower case. */
  asked: string[];
  stop(): Promise<void>;
}

export async function startFakeDns(address: string, records: Record<string, string>): Promise<FakeDns> {
  const socket = dgram.createSocket('udp4');
  const asked: string[] = [];
  socket.on('message', (query, from) => {
    const labels: string[] = [];
    let offset = 12;
    while (query[offset]) {
      labels.push(query.toString('latin1', offset + 1, offset + 1 + query[offset]!));
      offset += 1 + query[offset]!;
    }
    const name = labels.join('.').toLowerCase();
    const type = query.readUInt16BE(offset + 1);
    asked.push(name);
    const a = type === 1 && records[name] ? [records[name]] : [];
    socket.send(dnsAnswer(query, a), from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(53, address, () => resolve());
  });
  return { address, asked, stop: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}
