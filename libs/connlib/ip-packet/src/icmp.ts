// ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) message types, mapped to and from (type, code, rest-of-header).

export type Icmpv4Unreachable =
  | { readonly reason: 'network' | 'host' | 'protocol' | 'port' | 'admin_prohibited' }
  | { readonly reason: 'fragmentation_needed'; readonly nextHopMtu: number }
  | { readonly reason: 'other'; readonly code: number };

export type Icmpv4Type =
  | { readonly kind: 'echo_reply'; readonly id: number; readonly seq: number }
  | { readonly kind: 'echo_request'; readonly id: number; readonly seq: number }
  | { readonly kind: 'destination_unreachable'; readonly unreachable: Icmpv4Unreachable }
  | { readonly kind: 'time_exceeded'; readonly code: number }
  | { readonly kind: 'unknown'; readonly type: number; readonly code: number; readonly restOfHeader: Uint8Array };

export type Icmpv6Unreachable =
  | { readonly reason: 'no_route' | 'admin_prohibited' | 'beyond_scope' | 'address' | 'port' }
  | { readonly reason: 'other'; readonly code: number };

export type Icmpv6Type =
  | { readonly kind: 'echo_reply'; readonly id: number; readonly seq: number }
  | { readonly kind: 'echo_request'; readonly id: number; readonly seq: number }
  | { readonly kind: 'destination_unreachable'; readonly unreachable: Icmpv6Unreachable }
  | { readonly kind: 'packet_too_big'; readonly mtu: number }
  | { readonly kind: 'time_exceeded'; readonly code: number }
  | { readonly kind: 'unknown'; readonly type: number; readonly code: number; readonly restOfHeader: Uint8Array };

/** The first 8 bytes of an ICMP message minus its checksum. */
export interface IcmpWire {
  readonly type: number;
  readonly code: number;
  /** Bytes 4..8 of the ICMP header. */
  readonly restOfHeader: Uint8Array;
}

export const ICMPV4_ECHO_REPLY = 0;
export const ICMPV4_DEST_UNREACHABLE = 3;
export const ICMPV4_ECHO_REQUEST = 8;
export const ICMPV4_TIME_EXCEEDED = 11;
export const ICMPV6_DEST_UNREACHABLE = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;

const V4_UNREACH: readonly (readonly [number, 'network' | 'host' | 'protocol' | 'port' | 'admin_prohibited'])[] = [
  [0, 'network'],
  [1, 'host'],
  [2, 'protocol'],
  [3, 'port'],
  [13, 'admin_prohibited'],
];
const V6_UNREACH: readonly (readonly [number, 'no_route' | 'admin_prohibited' | 'beyond_scope' | 'address' | 'port'])[] = [
  [0, 'no_route'],
  [1, 'admin_prohibited'],
  [2, 'beyond_scope'],
  [3, 'address'],
  [4, 'port'],
];

function u16(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}
function rest(a: number, b: number): Uint8Array {
  return Uint8Array.of(a >> 8, a & 0xff, b >> 8, b & 0xff);
}

export function icmpv4FromWire(type: number, code: number, restOfHeader: Uint8Array): Icmpv4Type {
  switch (type) {
    case ICMPV4_ECHO_REPLY:
    case ICMPV4_ECHO_REQUEST:
      if (code === 0) {
        return { kind: type === ICMPV4_ECHO_REPLY ? 'echo_reply' : 'echo_request', id: u16(restOfHeader, 0), seq: u16(restOfHeader, 2) };
      }
      break;
    case ICMPV4_DEST_UNREACHABLE: {
      if (code === 4) return { kind: 'destination_unreachable', unreachable: { reason: 'fragmentation_needed', nextHopMtu: u16(restOfHeader, 2) } };
      const named = V4_UNREACH.find(([c]) => c === code);
      return { kind: 'destination_unreachable', unreachable: named ? { reason: named[1] } : { reason: 'other', code } };
    }
    case ICMPV4_TIME_EXCEEDED:
      return { kind: 'time_exceeded', code };
  }
  return { kind: 'unknown', type, code, restOfHeader: Uint8Array.from(restOfHeader.subarray(0, 4)) };
}

export function icmpv4ToWire(t: Icmpv4Type): IcmpWire {
  switch (t.kind) {
    case 'echo_reply':
      return { type: ICMPV4_ECHO_REPLY, code: 0, restOfHeader: rest(t.id, t.seq) };
    case 'echo_request':
      return { type: ICMPV4_ECHO_REQUEST, code: 0, restOfHeader: rest(t.id, t.seq) };
    case 'destination_unreachable': {
      const u = t.unreachable;
      if (u.reason === 'fragmentation_needed') return { type: ICMPV4_DEST_UNREACHABLE, code: 4, restOfHeader: rest(0, u.nextHopMtu) };
      if (u.reason === 'other') return { type: ICMPV4_DEST_UNREACHABLE, code: u.code, restOfHeader: new Uint8Array(4) };
      const code = V4_UNREACH.find(([, r]) => r === u.reason)?.[0] ?? 0;
      return { type: ICMPV4_DEST_UNREACHABLE, code, restOfHeader: new Uint8Array(4) };
    }
    case 'time_exceeded':
      return { type: ICMPV4_TIME_EXCEEDED, code: t.code, restOfHeader: new Uint8Array(4) };
    case 'unknown':
      return { type: t.type, code: t.code, restOfHeader: t.restOfHeader };
  }
}

export function icmpv6FromWire(type: number, code: number, restOfHeader: Uint8Array): Icmpv6Type {
  switch (type) {
    case ICMPV6_ECHO_REPLY:
    case ICMPV6_ECHO_REQUEST:
      if (code === 0) {
        return { kind: type === ICMPV6_ECHO_REPLY ? 'echo_reply' : 'echo_request', id: u16(restOfHeader, 0), seq: u16(restOfHeader, 2) };
      }
      break;
    case ICMPV6_DEST_UNREACHABLE: {
      const named = V6_UNREACH.find(([c]) => c === code);
      return { kind: 'destination_unreachable', unreachable: named ? { reason: named[1] } : { reason: 'other', code } };
    }
    case ICMPV6_PACKET_TOO_BIG:
      if (code === 0) return { kind: 'packet_too_big', mtu: ((u16(restOfHeader, 0) << 16) >>> 0) + u16(restOfHeader, 2) };
      break;
    case ICMPV6_TIME_EXCEEDED:
      return { kind: 'time_exceeded', code };
  }
  return { kind: 'unknown', type, code, restOfHeader: Uint8Array.from(restOfHeader.subarray(0, 4)) };
}

export function icmpv6ToWire(t: Icmpv6Type): IcmpWire {
  switch (t.kind) {
    case 'echo_reply':
      return { type: ICMPV6_ECHO_REPLY, code: 0, restOfHeader: rest(t.id, t.seq) };
    case 'echo_request':
      return { type: ICMPV6_ECHO_REQUEST, code: 0, restOfHeader: rest(t.id, t.seq) };
    case 'destination_unreachable': {
      const u = t.unreachable;
      const code = u.reason === 'other' ? u.code : (V6_UNREACH.find(([, r]) => r === u.reason)?.[0] ?? 0);
      return { type: ICMPV6_DEST_UNREACHABLE, code, restOfHeader: new Uint8Array(4) };
    }
    case 'packet_too_big':
      return { type: ICMPV6_PACKET_TOO_BIG, code: 0, restOfHeader: rest(Math.floor(t.mtu / 0x10000) & 0xffff, t.mtu & 0xffff) };
    case 'time_exceeded':
      return { type: ICMPV6_TIME_EXCEEDED, code: t.code, restOfHeader: new Uint8Array(4) };
    case 'unknown':
      return { type: t.type, code: t.code, restOfHeader: t.restOfHeader };
  }
}
