// Builders: write a complete packet (headers, lengths, checksums) into a fresh buffer or a caller's buffer.
import { type IpAddrBytes } from './address';
import { IpPacketError } from './errors';
import { icmpv4ToWire, icmpv6ToWire, type Icmpv4Type, type Icmpv6Type } from './icmp';
import { Ecn, IpProtocol, IPV4_HEADER_LEN, IPV6_HEADER_LEN } from './constants';
import { IpPacket } from './packet';

export interface IpHeaderSpec {
  readonly source: IpAddrBytes;
  readonly destination: IpAddrBytes;
  /** TTL / hop limit; default 64. */
  readonly hopLimit?: number;
  readonly ecn?: Ecn;
  /** IPv4 identification; default 0. */
  readonly identification?: number;
  /** Write into this buffer (e.g. a pooled one) instead of allocating; the result is a view of it. */
  readonly into?: Uint8Array;
}

export interface UdpSpec extends IpHeaderSpec {
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly payload?: Uint8Array;
}

export interface TcpSpec extends IpHeaderSpec {
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly seq?: number;
  readonly ack?: number;
  /** FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10; default ACK. */
  readonly flags?: number;
  readonly window?: number;
  readonly payload?: Uint8Array;
}

export interface Icmpv4Spec extends IpHeaderSpec {
  readonly icmp: Icmpv4Type;
  readonly payload?: Uint8Array;
}
export interface Icmpv6Spec extends IpHeaderSpec {
  readonly icmp: Icmpv6Type;
  readonly payload?: Uint8Array;
}
export interface EchoSpec extends IpHeaderSpec {
  readonly id: number;
  readonly seq: number;
  readonly payload?: Uint8Array;
}

/** TCP flag bits. */
export const TcpFlags = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, Math.floor(v / 0x10000) & 0xffff);
  put16(b, o + 2, v & 0xffff);
}

/**
 * Writes an IP header for `protocol` followed by `ipPayload` (whose transport checksum the caller fixes, or
 * `updateChecksums` does). Throws `FAMILY_MISMATCH` / `PACKET_TOO_LARGE` for impossible requests.
 */
export function buildIpPacket(spec: IpHeaderSpec & { readonly protocol: number; readonly ipPayload: Uint8Array }): Uint8Array {
  const { source, destination } = spec;
  if (source.length !== destination.length || (source.length !== 4 && source.length !== 16)) {
    throw new IpPacketError('FAMILY_MISMATCH', `source of ${source.length} bytes and destination of ${destination.length} bytes`);
  }
  const v4 = source.length === 4;
  const hl = v4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
  const total = hl + spec.ipPayload.length;
  if ((v4 && total > 0xffff) || (!v4 && spec.ipPayload.length > 0xffff)) {
    throw new IpPacketError('PACKET_TOO_LARGE', `IP payload of ${spec.ipPayload.length} bytes`);
  }
  let b: Uint8Array;
  if (spec.into) {
    if (spec.into.length < total) throw new IpPacketError('PACKET_TOO_LARGE', `packet of ${total} bytes into a buffer of ${spec.into.length}`);
    b = spec.into.subarray(0, total);
    b.fill(0, 0, hl);
  } else {
    b = new Uint8Array(total);
  }
  const ecn = spec.ecn ?? Ecn.NonEct;
  const hop = (spec.hopLimit ?? 64) & 0xff;
  if (v4) {
    b[0] = 0x45;
    b[1] = ecn;
    put16(b, 2, total);
    put16(b, 4, (spec.identification ?? 0) & 0xffff);
    b[8] = hop;
    b[9] = spec.protocol & 0xff;
    b.set(source, 12);
    b.set(destination, 16);
  } else {
    b[0] = 0x60;
    b[1] = ecn << 4;
    put16(b, 4, spec.ipPayload.length);
    b[6] = spec.protocol & 0xff;
    b[7] = hop;
    b.set(source, 8);
    b.set(destination, 24);
  }
  b.set(spec.ipPayload, hl);
  return b;
}

function finish(bytes: Uint8Array): Uint8Array {
  const p = IpPacket.parse(bytes);
  if (p instanceof IpPacketError) throw new IpPacketError(p.code, `built an unparseable packet: ${p.message}`, { cause: p });
  p.updateChecksums();
  return bytes;
}

export function buildUdp(spec: UdpSpec): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  const t = new Uint8Array(8 + payload.length);
  put16(t, 0, spec.sourcePort);
  put16(t, 2, spec.destinationPort);
  put16(t, 4, Math.min(t.length, 0xffff));
  t.set(payload, 8);
  return finish(buildIpPacket({ ...spec, protocol: IpProtocol.UDP, ipPayload: t }));
}

export function buildTcp(spec: TcpSpec): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  const t = new Uint8Array(20 + payload.length);
  put16(t, 0, spec.sourcePort);
  put16(t, 2, spec.destinationPort);
  put32(t, 4, (spec.seq ?? 0) >>> 0);
  put32(t, 8, (spec.ack ?? 0) >>> 0);
  t[12] = 5 << 4;
  t[13] = (spec.flags ?? TcpFlags.ACK) & 0xff;
  put16(t, 14, spec.window ?? 65535);
  t.set(payload, 20);
  return finish(buildIpPacket({ ...spec, protocol: IpProtocol.TCP, ipPayload: t }));
}

function icmpBody(type: number, code: number, rest: Uint8Array, payload: Uint8Array): Uint8Array {
  const t = new Uint8Array(8 + payload.length);
  t[0] = type;
  t[1] = code;
  t.set(rest.subarray(0, 4), 4);
  t.set(payload, 8);
  return t;
}

export function buildIcmpv4(spec: Icmpv4Spec): Uint8Array {
  if (spec.source.length !== 4) throw new IpPacketError('FAMILY_MISMATCH', 'ICMPv4 needs IPv4 addresses');
  const w = icmpv4ToWire(spec.icmp);
  return finish(buildIpPacket({ ...spec, protocol: IpProtocol.ICMP, ipPayload: icmpBody(w.type, w.code, w.restOfHeader, spec.payload ?? new Uint8Array(0)) }));
}

export function buildIcmpv6(spec: Icmpv6Spec): Uint8Array {
  if (spec.source.length !== 16) throw new IpPacketError('FAMILY_MISMATCH', 'ICMPv6 needs IPv6 addresses');
  const w = icmpv6ToWire(spec.icmp);
  return finish(buildIpPacket({ ...spec, protocol: IpProtocol.ICMPV6, ipPayload: icmpBody(w.type, w.code, w.restOfHeader, spec.payload ?? new Uint8Array(0)) }));
}

/** ICMP (v4) or ICMPv6 (v6) echo request, family from the addresses. */
export function buildEchoRequest(spec: EchoSpec): Uint8Array {
  const icmp = { kind: 'echo_request', id: spec.id, seq: spec.seq } as const;
  return spec.source.length === 4 ? buildIcmpv4({ ...spec, icmp }) : buildIcmpv6({ ...spec, icmp });
}
export function buildEchoReply(spec: EchoSpec): Uint8Array {
  const icmp = { kind: 'echo_reply', id: spec.id, seq: spec.seq } as const;
  return spec.source.length === 4 ? buildIcmpv4({ ...spec, icmp }) : buildIcmpv6({ ...spec, icmp });
}
