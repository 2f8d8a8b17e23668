// The timeline of one connection set-up in the NAT e2e, read from packet captures (tcpdump -w on the client's and
// the gateway's LAN side, before their NAT): portal messages (websocket frames, unmasked), TURN requests and
// answers to the relays, ICE checks (direct, in ChannelData or in Send/Data indications) and WireGuard messages.
// Each kind of event is reported once per side, at its first occurrence, in ms after `t0` (wall clock).
import { readFileSync } from 'node:fs';

export interface Datagram {
  /** Wall-clock ms. */
  readonly at: number;
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly proto: 'udp' | 'tcp';
  readonly payload: Uint8Array;
}

/** IPv4 UDP/TCP packets of a classic pcap file (Ethernet or Linux cooked capture). */
export function readPcap(file: string): Datagram[] {
  const b = readFileSync(file);
  if (b.length < 24) return [];
  const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  const nano = b.readUInt32LE(0) === 0xa1b23c4d || b.readUInt32BE(0) === 0xa1b23c4d;
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const link = u32(20);
  const out: Datagram[] = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const at = u32(o) * 1000 + u32(o + 4) / (nano ? 1e6 : 1e3);
    const len = u32(o + 8);
    const frame = b.subarray(o + 16, o + 16 + len);
    o += 16 + len;
    const ipAt = link === 1 ? 14 : link === 113 ? 16 : link === 101 ? 0 : -1;
    if (ipAt < 0 || frame.length < ipAt + 20 || (frame[ipAt] ?? 0) >> 4 !== 4) continue;
    const ihl = ((frame[ipAt] ?? 0) & 0xf) * 4;
    const proto = frame[ipAt + 9];
    const total = frame.readUInt16BE(ipAt + 2);
    const ip = (p: number): string => [...frame.subarray(p, p + 4)].join('.');
    const l4 = ipAt + ihl;
    if (proto === 17 && frame.length >= l4 + 8) {
      out.push({ at, src: ip(ipAt + 12), dst: ip(ipAt + 16), srcPort: frame.readUInt16BE(l4), dstPort: frame.readUInt16BE(l4 + 2), proto: 'udp', payload: frame.subarray(l4 + 8, ipAt + total) });
    } else if (proto === 6 && frame.length >= l4 + 20) {
      const dataAt = l4 + ((frame[l4 + 12] ?? 0) >> 4) * 4;
      out.push({ at, src: ip(ipAt + 12), dst: ip(ipAt + 16), srcPort: frame.readUInt16BE(l4), dstPort: frame.readUInt16BE(l4 + 2), proto: 'tcp', payload: frame.subarray(dataAt, ipAt + total) });
    }
  }
  return out;
}

const STUN_NAMES: Readonly<Record<number, string>> = {
  0x0001: 'BINDING',
  0x0101: 'BINDING ok',
  0x0111: 'BINDING error',
  0x0003: 'ALLOCATE',
  0x0103: 'ALLOCATE ok',
  0x0113: 'ALLOCATE error',
  0x0004: 'REFRESH',
  0x0104: 'REFRESH ok',
  0x0008: 'CREATE-PERMISSION',
  0x0108: 'CREATE-PERMISSION ok',
  0x0009: 'CHANNEL-BIND',
  0x0109: 'CHANNEL-BIND ok',
  0x0016: 'SEND',
  0x0017: 'DATA',
};

const WG = ['', 'WG initiation', 'WG response', 'WG cookie', 'WG data'];

function isStun(p: Uint8Array): boolean {
  return p.length >= 20 && (p[0] ?? 0xff) < 4 && p[4] === 0x21 && p[5] === 0x12 && p[6] === 0xa4 && p[7] === 0x42;
}

/** STUN attributes (type -> value). */
function stunAttributes(p: Uint8Array): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  const end = Math.min(p.length, 20 + ((p[2] ?? 0) << 8) + (p[3] ?? 0));
  for (let o = 20; o + 4 <= end; ) {
    const type = ((p[o] ?? 0) << 8) | (p[o + 1] ?? 0);
    const len = ((p[o + 2] ?? 0) << 8) | (p[o + 3] ?? 0);
    m.set(type, p.subarray(o + 4, o + 4 + len));
    o += 4 + ((len + 3) & ~3);
  }
  return m;
}

/** What a UDP payload is: a TURN request, an ICE check (with USE-CANDIDATE), a WireGuard message, possibly wrapped. */
export function classifyUdp(p: Uint8Array, depth = 0): string {
  const first = p[0] ?? 0;
  if (first >= 0x40 && first <= 0x7f && p.length >= 4) return `ChannelData(${classifyUdp(p.subarray(4), depth + 1)})`;
  if (isStun(p)) {
    const type = ((p[0] ?? 0) << 8) | (p[1] ?? 0);
    const attrs = stunAttributes(p);
    if ((type === 0x0016 || type === 0x0017) && depth === 0) {
      const data = attrs.get(0x0013);
      return `${STUN_NAMES[type] ?? 'STUN'}(${data === undefined ? '?' : classifyUdp(data, depth + 1)})`;
    }
    const name = STUN_NAMES[type] ?? `STUN 0x${type.toString(16)}`;
    if (type === 0x0001 && attrs.has(0x0006)) return attrs.has(0x0025) ? 'ICE check USE-CANDIDATE' : 'ICE check';
    // ICE answers carry MESSAGE-INTEGRITY (short-term); a relay's BINDING answers do not
    if ((type === 0x0101 || type === 0x0111) && attrs.has(0x0008)) return type === 0x0101 ? 'ICE answer' : 'ICE error answer';
    if (type === 0x0113 || type === 0x0111) {
      const e = attrs.get(0x0009);
      return e === undefined || e.length < 4 ? name : `${name} ${String((e[2] ?? 0) * 100 + (e[3] ?? 0))}`;
    }
    return name;
  }
  const t = p[0] ?? 0;
  if (p.length >= 4 && t >= 1 && t <= 4 && p[1] === 0 && p[2] === 0 && p[3] === 0) return WG[t] ?? 'WG';
  return 'other';
}

/** Portal events in a websocket segment (server frames are plain; client frames are masked). */
export function portalEvents(p: Uint8Array): string[] {
  const events: string[] = [];
  for (let o = 0; o + 2 <= p.length; ) {
    const b0 = p[o] ?? 0;
    const b1 = p[o + 1] ?? 0;
    if ((b0 & 0x0f) !== 1 && (b0 & 0x0f) !== 2 && (b0 & 0x0f) !== 0) break;
    let len = b1 & 0x7f;
    let h = o + 2;
    if (len === 126) {
      len = ((p[h] ?? 0) << 8) | (p[h + 1] ?? 0);
      h += 2;
    } else if (len === 127) {
      len = (((p[h + 4] ?? 0) << 24) | ((p[h + 5] ?? 0) << 16) | ((p[h + 6] ?? 0) << 8) | (p[h + 7] ?? 0)) >>> 0;
      h += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const mask = masked ? p.subarray(h, h + 4) : undefined;
    if (masked) h += 4;
    const body = Uint8Array.from(p.subarray(h, h + len), (v, i) => (mask === undefined ? v : v ^ (mask[i % 4] ?? 0)));
    const text = Buffer.from(body).toString('utf8');
    const m = /"event":"([a-z_]+)"/.exec(text) ?? /^\[[^,]*,[^,]*,"[^"]*","([a-z_]+)"/.exec(text);
    if (m?.[1] !== undefined && m[1] !== 'phx_reply' && m[1] !== 'heartbeat') events.push(m[1]);
    o = h + len;
  }
  return events;
}

export interface TimelineEntry {
  readonly ms: number;
  readonly side: string;
  readonly what: string;
}

/**
 * First occurrence of each kind of event, per side: `captures` maps a side name to its datagrams; `local` is
 * the side's own (private) address; `relays` the relays' addresses, `portal` the portal's.
 */
export function timeline(t0: number, captures: ReadonlyMap<string, { readonly local: string; readonly packets: readonly Datagram[] }>, relays: readonly string[], portal: string): TimelineEntry[] {
  const seen = new Set<string>();
  const out: TimelineEntry[] = [];
  for (const [side, { local, packets }] of captures) {
    for (const d of packets) {
      if (d.at < t0 - 5_000) continue;
      const outgoing = d.src === local;
      const peer = outgoing ? d.dst : d.src;
      const peerName = peer === portal ? 'portal' : relays.includes(peer) ? `relay ${String(relays.indexOf(peer) + 1)}${(outgoing ? d.dstPort : d.srcPort) === 3478 ? '' : ' (relayed port)'}` : peer;
      const kinds = d.proto === 'tcp' ? (peer === portal ? portalEvents(d.payload) : []) : [classifyUdp(d.payload)];
      for (const k of kinds) {
        const what = `${outgoing ? '->' : '<-'} ${peerName}: ${k}`;
        if (seen.has(`${side} ${what}`)) continue;
        seen.add(`${side} ${what}`);
        out.push({ ms: Math.round(d.at - t0), side, what });
      }
    }
  }
  return out.sort((a, b) => a.ms - b.ms);
}
