// Building and reading rtnetlink messages by hand (little-endian x86_64 / aarch64 layouts).
import { isIPv4, isIPv6 } from 'node:net';
import * as C from './constants';

export interface Attr {
  readonly type: number;
  readonly data: Uint8Array;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

export function attr(type: number, data: Uint8Array): Attr {
  return { type, data };
}
export function u32Attr(type: number, value: number): Attr {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0);
  return { type, data: b };
}
export function strAttr(type: number, value: string): Attr {
  return { type, data: Buffer.from(`${value}\0`, 'utf8') };
}

/** One netlink message: header + fixed body + attributes, padded to 4 bytes. */
export function buildMessage(type: number, flags: number, seq: number, body: Uint8Array, attrs: readonly Attr[] = []): Buffer {
  let len = C.NLMSG_HDRLEN + align4(body.length);
  for (const a of attrs) len += align4(4 + a.data.length);
  const buf = Buffer.alloc(len);
  buf.writeUInt32LE(len, 0);
  buf.writeUInt16LE(type, 4);
  buf.writeUInt16LE(flags, 6);
  buf.writeUInt32LE(seq >>> 0, 8);
  buf.writeUInt32LE(0, 12);
  buf.set(body, C.NLMSG_HDRLEN);
  let off = C.NLMSG_HDRLEN + align4(body.length);
  for (const a of attrs) {
    buf.writeUInt16LE(4 + a.data.length, off);
    buf.writeUInt16LE(a.type, off + 2);
    buf.set(a.data, off + 4);
    off += align4(4 + a.data.length);
  }
  return buf;
}

/** struct ifinfomsg (16 bytes). */
export function ifinfomsg(family: number, index: number, flags: number, change: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}

/** struct ifaddrmsg (8 bytes). */
export function ifaddrmsg(family: number, prefixlen: number, flags: number, scope: number, index: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefixlen, 1);
  b.writeUInt8(flags & 0xff, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index, 4);
  return b;
}

export interface RtmsgFields {
  readonly family: number;
  readonly dstLen: number;
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  readonly type: number;
}

/** struct rtmsg (12 bytes); tables above 255 go in RTA_TABLE and the byte says RT_TABLE_COMPAT. */
export function rtmsg(f: RtmsgFields): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(f.family, 0);
  b.writeUInt8(f.dstLen, 1);
  b.writeUInt8(f.table > 255 ? C.RT_TABLE_COMPAT : f.table, 4);
  b.writeUInt8(f.protocol, 5);
  b.writeUInt8(f.scope, 6);
  b.writeUInt8(f.type, 7);
  return b;
}

/** struct fib_rule_hdr (12 bytes). */
export function fibRuleHdr(family: number, table: number, action: number, flags: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family, 0);
  b.writeUInt8(table > 255 ? C.RT_TABLE_UNSPEC : table, 4);
  b.writeUInt8(action, 7);
  b.writeUInt32LE(flags >>> 0, 8);
  return b;
}

export function ipBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address)) throw new TypeError(`not an IP address: ${address}`);
  return ipv6Bytes(address);
}

function ipv6Bytes(address: string): Buffer {
  let text = address.split('%')[0] ?? address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const b = tail.split('.').map(Number);
    const w1 = (((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16);
    const w2 = (((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16);
    text = `${text.slice(0, lastColon + 1)}${w1}:${w2}`;
  }
  const halves = text.split('::');
  const parse = (part: string | undefined): number[] => (part === undefined || part === '' ? [] : part.split(':').map((x) => parseInt(x, 16)));
  const head = parse(halves[0]);
  const rest = parse(halves[1]);
  const groups = halves.length === 1 ? head : [...head, ...new Array<number>(Math.max(0, 8 - head.length - rest.length)).fill(0), ...rest];
  const out = Buffer.alloc(16);
  groups.slice(0, 8).forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export function ipFromBytes(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return '';
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
  // compress the longest run of zeros (RFC 5952)
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export interface NlMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  /** The payload after the 16-byte header. */
  readonly payload: Buffer;
}

/** Splits a datagram into messages (stops at a truncated one). */
export function parseMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + C.NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < C.NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      payload: buf.subarray(off + C.NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** NLMSG_ERROR's error field is a negative errno (0 is an ACK); returns the positive errno. */
export function errorErrno(msg: NlMessage): number {
  if (msg.payload.length < 4) return 0;
  const e = msg.payload.readInt32LE(0);
  return e === 0 ? 0 : -e;
}

export function parseAttrs(buf: Buffer, offset: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = offset;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & 0x3fff; // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
    if (len < 4 || off + len > buf.length) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export interface LinkInfo {
  readonly index: number;
  readonly flags: number;
  readonly name: string | undefined;
  readonly mtu: number | undefined;
}

export function parseLink(msg: NlMessage): LinkInfo | undefined {
  const p = msg.payload;
  if (p.length < 16) return undefined;
  const attrs = parseAttrs(p, 16);
  const name = attrs.get(C.IFLA_IFNAME);
  const mtu = attrs.get(C.IFLA_MTU);
  return {
    index: p.readInt32LE(4),
    flags: p.readUInt32LE(8),
    name: name === undefined ? undefined : name.toString('utf8').replace(/\0.*$/s, ''),
    mtu: mtu !== undefined && mtu.length >= 4 ? mtu.readUInt32LE(0) : undefined,
  };
}

export interface AddrInfo {
  readonly family: number;
  readonly prefix: number;
  readonly index: number;
  readonly address: string;
}

export function parseAddr(msg: NlMessage): AddrInfo | undefined {
  const p = msg.payload;
  if (p.length < 8) return undefined;
  const attrs = parseAttrs(p, 8);
  const a = attrs.get(C.IFA_LOCAL) ?? attrs.get(C.IFA_ADDRESS);
  return { family: p.readUInt8(0), prefix: p.readUInt8(1), index: p.readUInt32LE(4), address: a === undefined ? '' : ipFromBytes(a) };
}

export interface RouteInfo {
  readonly family: number;
  readonly dst: string;
  readonly dstLen: number;
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  readonly type: number;
  readonly flags: number;
  readonly oif: number | undefined;
  readonly gateway: string | undefined;
  readonly priority: number | undefined;
}

export function parseRoute(msg: NlMessage): RouteInfo | undefined {
  const p = msg.payload;
  if (p.length < 12) return undefined;
  const family = p.readUInt8(0);
  const attrs = parseAttrs(p, 12);
  const table = attrs.get(C.RTA_TABLE);
  const dst = attrs.get(C.RTA_DST);
  const oif = attrs.get(C.RTA_OIF);
  const gw = attrs.get(C.RTA_GATEWAY);
  const prio = attrs.get(C.RTA_PRIORITY);
  return {
    family,
    dstLen: p.readUInt8(1),
    table: table !== undefined && table.length >= 4 ? table.readUInt32LE(0) : p.readUInt8(4),
    protocol: p.readUInt8(5),
    scope: p.readUInt8(6),
    type: p.readUInt8(7),
    flags: p.readUInt32LE(8),
    dst: dst === undefined ? (family === C.AF_INET6 ? '::' : '0.0.0.0') : ipFromBytes(dst),
    oif: oif !== undefined && oif.length >= 4 ? oif.readUInt32LE(0) : undefined,
    gateway: gw === undefined ? undefined : ipFromBytes(gw),
    priority: prio !== undefined && prio.length >= 4 ? prio.readUInt32LE(0) : undefined,
  };
}
