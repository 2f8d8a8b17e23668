// Test support: IPv4/IPv6 TCP and UDP packets with correct checksums, the super-packets the kernel hands a
// TUN opened with IFF_VNET_HDR, and an independent (byte-by-byte) checksum to verify what offload.worker.mjs
// produces. Deliberately written without any code from src/.

/** One's-complement sum of 16-bit big-endian words (byte loop), folded, not inverted. */
export function refSum(parts: readonly Uint8Array[]): number {
  let s = 0;
  for (const b of parts) {
    for (let i = 0; i < b.length; i += 2) s += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  }
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function be16(v: number): Uint8Array {
  return Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
}

export interface Ip {
  readonly v6: boolean;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly ttl?: number;
  readonly tos?: number;
  readonly id?: number;
  readonly df?: boolean;
}

export interface Tcp {
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly ack?: number;
  readonly flags?: number;
  readonly window?: number;
  /** Options, a multiple of 4 bytes. */
  readonly options?: Uint8Array;
}

export const ACK = 0x10;
export const PSH = 0x08;
export const FIN = 0x01;
export const SYN = 0x02;
export const CWR = 0x80;

export const V4: Ip = { v6: false, src: Uint8Array.of(198, 18, 8, 1), dst: Uint8Array.of(198, 18, 8, 2), id: 100, df: true };
export const V6: Ip = {
  v6: true,
  src: Uint8Array.of(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
  dst: Uint8Array.of(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2),
};

/** Pseudo-header sum (folded, not inverted) as in RFC 793 / RFC 8200. */
export function pseudo(ip: Ip, proto: number, l4len: number): number {
  if (ip.v6) return refSum([ip.src, ip.dst, Uint8Array.of(0, 0, (l4len >>> 8) & 0xff, l4len & 0xff, 0, 0, 0, proto)]);
  return refSum([ip.src, ip.dst, Uint8Array.of(0, proto), be16(l4len)]);
}

function ipHeader(ip: Ip, proto: number, l4len: number): Uint8Array {
  if (ip.v6) {
    const h = new Uint8Array(40);
    h[0] = 0x60 | ((ip.tos ?? 0) >> 4);
    h[1] = ((ip.tos ?? 0) & 0x0f) << 4;
    h.set(be16(l4len), 4);
    h[6] = proto;
    h[7] = ip.ttl ?? 64;
    h.set(ip.src, 8);
    h.set(ip.dst, 24);
    return h;
  }
  const h = new Uint8Array(20);
  h[0] = 0x45;
  h[1] = ip.tos ?? 0;
  h.set(be16(20 + l4len), 2);
  h.set(be16(ip.id ?? 0), 4);
  h[6] = (ip.df ?? true) ? 0x40 : 0;
  h[8] = ip.ttl ?? 64;
  h[9] = proto;
  h.set(ip.src, 12);
  h.set(ip.dst, 16);
  h.set(be16(~refSum([h]) & 0xffff), 10);
  return h;
}

function tcpHeader(t: Tcp): Uint8Array {
  const opts = t.options ?? new Uint8Array(0);
  const h = new Uint8Array(20 + opts.length);
  const dv = new DataView(h.buffer);
  dv.setUint16(0, t.sport);
  dv.setUint16(2, t.dport);
  dv.setUint32(4, t.seq >>> 0);
  dv.setUint32(8, (t.ack ?? 1) >>> 0);
  h[12] = (h.length / 4) << 4;
  h[13] = t.flags ?? ACK;
  dv.setUint16(14, t.window ?? 512);
  h.set(opts, 20);
  return h;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A complete TCP segment (checksums valid). */
export function tcpPacket(ip: Ip, t: Tcp, payload: Uint8Array): Uint8Array {
  const th = tcpHeader(t);
  const l4len = th.length + payload.length;
  const c = ~refSum([th, payload, be16(pseudo(ip, 6, l4len))]) & 0xffff;
  th.set(be16(c), 16);
  return concat([ipHeader(ip, 6, l4len), th, payload]);
}

/** A complete UDP datagram (checksum valid). */
export function udpPacket(ip: Ip, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const uh = new Uint8Array(8);
  const dv = new DataView(uh.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint16(4, 8 + payload.length);
  let c = ~refSum([uh, payload, be16(pseudo(ip, 17, 8 + payload.length))]) & 0xffff;
  if (c === 0) c = 0xffff;
  dv.setUint16(6, c);
  return concat([ipHeader(ip, 17, 8 + payload.length), uh, payload]);
}

export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function vnetHdr(h: VnetHdr): Uint8Array {
  const b = new Uint8Array(10);
  const dv = new DataView(b.buffer);
  b[0] = h.flags;
  b[1] = h.gsoType;
  dv.setUint16(2, h.hdrLen, true);
  dv.setUint16(4, h.gsoSize, true);
  dv.setUint16(6, h.csumStart, true);
  dv.setUint16(8, h.csumOffset, true);
  return b;
}

export function parseVnet(b: Uint8Array): VnetHdr {
  const dv = new DataView(b.buffer, b.byteOffset, 10);
  return { flags: dv.getUint8(0), gsoType: dv.getUint8(1), hdrLen: dv.getUint16(2, true), gsoSize: dv.getUint16(4, true), csumStart: dv.getUint16(6, true), csumOffset: dv.getUint16(8, true) };
}

/**
 * What the kernel hands a TUN with TSO enabled: virtio header (NEEDS_CSUM, TCPV4/6, gso_size) + one packet
 * with the whole payload, IP lengths for the whole, and the pseudo-header sum (not inverted) in the TCP
 * checksum field.
 */
export function tcpSuper(ip: Ip, t: Tcp, payload: Uint8Array, gsoSize: number): Uint8Array {
  const pkt = tcpPacket(ip, t, payload);
  const ihl = ip.v6 ? 40 : 20;
  const thl = 20 + (t.options?.length ?? 0);
  const l4len = pkt.length - ihl;
  pkt.set(be16(pseudo(ip, 6, l4len)), ihl + 16);
  return concat([vnetHdr({ flags: 1, gsoType: ip.v6 ? 4 : 1, hdrLen: ihl + thl, gsoSize, csumStart: ihl, csumOffset: 16 }), pkt]);
}

/** USO super-packet (GSO_UDP_L4). */
export function udpSuper(ip: Ip, sport: number, dport: number, payload: Uint8Array, gsoSize: number): Uint8Array {
  const pkt = udpPacket(ip, sport, dport, payload);
  const ihl = ip.v6 ? 40 : 20;
  pkt.set(be16(pseudo(ip, 17, pkt.length - ihl)), ihl + 6);
  return concat([vnetHdr({ flags: 1, gsoType: 5, hdrLen: ihl + 8, gsoSize, csumStart: ihl, csumOffset: 6 }), pkt]);
}

export interface Parsed {
  readonly v6: boolean;
  readonly ihl: number;
  readonly thl: number;
  readonly seq: number;
  readonly flags: number;
  readonly id: number;
  readonly payload: Uint8Array;
  /** IPv4 header checksum valid (always true for IPv6) and transport checksum valid. */
  readonly ipOk: boolean;
  readonly l4Ok: boolean;
  readonly lengthOk: boolean;
}

/** Parses and verifies a plain TCP or UDP packet with the reference checksum. */
export function verify(p: Uint8Array): Parsed {
  const v6 = (p[0] ?? 0) >> 4 === 6;
  const ihl = v6 ? 40 : ((p[0] ?? 0) & 15) * 4;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const proto = v6 ? dv.getUint8(6) : dv.getUint8(9);
  const ip: Ip = v6 ? { v6, src: p.slice(8, 24), dst: p.slice(24, 40) } : { v6, src: p.slice(12, 16), dst: p.slice(16, 20) };
  const l4 = p.subarray(ihl);
  const lengthOk = v6 ? dv.getUint16(4) + 40 === p.length : dv.getUint16(2) === p.length;
  const ipOk = v6 || refSum([p.subarray(0, ihl)]) === 0xffff;
  const l4Ok = refSum([l4, be16(pseudo(ip, proto, l4.length))]) === 0xffff;
  if (proto === 6) {
    const thl = ((l4[12] ?? 0) >> 4) * 4;
    return { v6, ihl, thl, seq: dv.getUint32(ihl + 4), flags: l4[13] ?? 0, id: v6 ? 0 : dv.getUint16(4), payload: l4.subarray(thl), ipOk, l4Ok, lengthOk };
  }
  const udpLenOk = dv.getUint16(ihl + 4) === l4.length;
  return { v6, ihl, thl: 8, seq: 0, flags: 0, id: v6 ? 0 : dv.getUint16(4), payload: l4.subarray(8), ipOk, l4Ok, lengthOk: lengthOk && udpLenOk };
}
