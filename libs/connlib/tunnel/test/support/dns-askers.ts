// Askers of the client's sentinels in unit tests: DNS queries over UDP and TCP (a real handshake with the
// in-tunnel TCP responder) and what ClientDns writes back to the TUN, decoded.
import * as dnsPacket from 'dns-packet';
import { buildTcp, buildUdp, IpPacket, TcpFlags } from '@postern/ip-packet';
import { DnsTcpDecoder, encodeTcpFrame } from '@postern/dns';
import type { ClientDns } from '../../src/dns/client-dns';
import { ip } from './packets';

export const CLIENT = ip('100.64.0.1');
export const SENTINEL = ip('100.100.111.1');

export function q(name: string, id: number, ednsSize?: number): Uint8Array {
  const additionals: dnsPacket.Answer[] = ednsSize === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: ednsSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
  return new Uint8Array(dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'TXT', class: 'IN' }], additionals }));
}

/** An answer to `query` with `n` TXT records of 200 bytes each (n = 10: about 2 KiB). */
export function txtAnswer(query: Uint8Array, n: number, truncated = false): Uint8Array {
  const m = dnsPacket.decode(Buffer.from(query));
  const name = m.questions?.[0]?.name ?? 'x';
  const answers: dnsPacket.Answer[] = Array.from({ length: n }, (_, i) => ({ type: 'TXT', name, ttl: 60, data: `${String(i)}${'t'.repeat(199)}` }));
  const flags = dnsPacket.RECURSION_AVAILABLE | (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0);
  return new Uint8Array(dnsPacket.encode({ id: m.id ?? 0, type: 'response', flags, questions: m.questions ?? [], answers }));
}

export function udpTo(payload: Uint8Array, sport: number): IpPacket {
  const p = IpPacket.parse(buildUdp({ source: CLIENT, destination: SENTINEL, sourcePort: sport, destinationPort: 53, payload }));
  if (p instanceof Error) throw p;
  return p;
}

export function tcpTo(flags: number, seq: number, ack: number, payload?: Uint8Array): IpPacket {
  const p = IpPacket.parse(buildTcp({ source: CLIENT, destination: SENTINEL, sourcePort: 40000, destinationPort: 53, seq, ack, flags, ...(payload === undefined ? {} : { payload }) }));
  if (p instanceof Error) throw p;
  return p;
}

export interface Out {
  readonly udp: dnsPacket.DecodedPacket[];
  readonly tcp: dnsPacket.DecodedPacket[];
  readonly tcpSegments: IpPacket[];
}

export function out(d: ClientDns, decoder = new DnsTcpDecoder()): Out {
  const o: Out = { udp: [], tcp: [], tcpSegments: [] };
  for (let b = d.pollTunWrite(); b !== undefined; b = d.pollTunWrite()) {
    const p = IpPacket.parse(b);
    if (p instanceof Error) throw p;
    if (p.isUdp()) o.udp.push(dnsPacket.decode(Buffer.from(p.transportPayload())));
    else if (p.isTcp()) {
      o.tcpSegments.push(p);
      for (const m of decoder.push(p.transportPayload())) o.tcp.push(dnsPacket.decode(Buffer.from(m)));
    }
  }
  return o;
}

export const withId = (m: Uint8Array, id: number): Uint8Array => {
  const b = m.slice();
  b[0] = id >> 8;
  b[1] = id & 0xff;
  return b;
};
export const idOf = (m: Uint8Array): number => ((m[0] ?? 0) << 8) | (m[1] ?? 0);

/** Opens a TCP connection to the sentinel and sends `query` on it; returns the decoder of the answer stream. */
export function askOverTcp(d: ClientDns, query: Uint8Array, now: number): DnsTcpDecoder {
  const decoder = new DnsTcpDecoder();
  d.handleSentinelPacket(tcpTo(TcpFlags.SYN, 1000, 0), now);
  const synAck = out(d, decoder).tcpSegments[0];
  if (synAck === undefined) throw new Error('no SYN/ACK');
  const v = new DataView(synAck.bytes.buffer, synAck.bytes.byteOffset + synAck.transportOffset);
  const serverSeq = (v.getUint32(4) + 1) >>> 0;
  const f = encodeTcpFrame(query);
  if (f === undefined) throw new Error('frame');
  d.handleSentinelPacket(tcpTo(TcpFlags.ACK, 1001, serverSeq), now);
  d.handleSentinelPacket(tcpTo(TcpFlags.ACK | TcpFlags.PSH, 1001, serverSeq, f), now);
  return decoder;
}

