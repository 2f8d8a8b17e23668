// Firezone's ip-packet vectors (test/fixtures/ip-packet.json, Apache-2.0, from firezone/firezone rust/).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildUdp,
  Ecn,
  icmpv4FromWire,
  icmpv4ToWire,
  icmpv6FromWire,
  icmpv6ToWire,
  IpPacket,
  IpPacketError,
  onesComplementSum,
  parseIp,
  updateChecksum,
  intoUdpChecksum,
  type Icmpv4Type,
  type Icmpv6Type,
} from '../../src/index';

interface Case {
  id: string;
  kind: string;
  [k: string]: unknown;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/ip-packet.json', import.meta.url), 'utf8')) as { cases: Case[] };
const byId = (id: string): Case => {
  const c = fixture.cases.find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id}`);
  return c;
};
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const num = (v: unknown): number => Number(v);

function parse(bytes: Uint8Array): IpPacket {
  const p = IpPacket.parse(bytes);
  if (p instanceof IpPacketError) throw p;
  return p;
}
function addr(s: string): Uint8Array {
  const a = parseIp(s);
  if (!a) throw new Error(s);
  return a;
}

describe('ones-complement sum (RFC 1071)', () => {
  it.each(['rfc1071_sum', 'odd_length_sum'])('%s folds to the expected sum', (id) => {
    const c = byId(id);
    expect(onesComplementSum(hex(String(c['bytes_hex'])))).toBe(num(c['expected_folded_sum']));
  });

  it('matches the naive 16-bit word sum over lengths 0..39', () => {
    for (let len = 0; len < 40; len++) {
      const bytes = Uint8Array.from({ length: len }, (_, i) => (i * 37 + 3) % 256);
      let naive = 0;
      for (let i = 0; i < len; i += 2) naive += ((bytes[i] ?? 0) << 8) | (i + 1 < len ? (bytes[i + 1] ?? 0) : 0);
      while (naive > 0xffff) naive = (naive & 0xffff) + (naive >>> 16);
      expect(onesComplementSum(bytes)).toBe(naive);
    }
  });
});

describe('incremental update (RFC 1624)', () => {
  it.each(['rfc1624_update', 'zero_field_keeps_ffff', 'noop_update'])('%s', (id) => {
    const c = byId(id);
    expect(updateChecksum(num(c['old_checksum']), num(c['remove_u16']), num(c['add_u16']))).toBe(num(c['expected_ip_checksum']));
  });
  it('udp_never_zero: a UDP checksum is never 0x0000', () => {
    const c = byId('udp_never_zero');
    expect(intoUdpChecksum(updateChecksum(num(c['old_checksum']), 0, 0))).toBe(num(c['expected_udp_checksum']));
    expect(intoUdpChecksum(0)).toBe(0xffff);
  });
});

function v4(s: string): Icmpv4Type {
  const m = /^(\w+)(?:\{(.*)\}|\((.*)\))?$/.exec(s);
  if (!m) throw new Error(s);
  const [, name, braces, parens] = m;
  const kv = Object.fromEntries((braces ?? '').split(',').filter(Boolean).map((p) => p.split(':').map((x) => x.trim())));
  switch (name) {
    case 'EchoReply':
      return { kind: 'echo_reply', id: Number(kv.id), seq: Number(kv.seq) };
    case 'EchoRequest':
      return { kind: 'echo_request', id: Number(kv.id), seq: Number(kv.seq) };
    case 'TimeExceeded':
      return { kind: 'time_exceeded', code: Number(parens) };
    case 'DestinationUnreachable': {
      const inner = parens ?? '';
      if (inner === 'Network') return { kind: 'destination_unreachable', unreachable: { reason: 'network' } };
      const mtu = /next_hop_mtu:(\d+)/.exec(inner);
      if (mtu) return { kind: 'destination_unreachable', unreachable: { reason: 'fragmentation_needed', nextHopMtu: Number(mtu[1]) } };
      const other = /Other\{code:(\d+)\}/.exec(inner);
      if (other) return { kind: 'destination_unreachable', unreachable: { reason: 'other', code: Number(other[1]) } };
      throw new Error(inner);
    }
  }
  throw new Error(s);
}

describe('ICMP type wire round trips', () => {
  it('icmpv4_wire_roundtrip: from_wire(to_wire(t)) == t', () => {
    const values = byId('icmpv4_wire_roundtrip')['values'] as string[];
    for (const s of values) {
      const t: Icmpv4Type = s.startsWith('Unknown')
        ? { kind: 'unknown', type: 42, code: 3, restOfHeader: Uint8Array.of(1, 2, 3, 4) }
        : v4(s);
      const w = icmpv4ToWire(t);
      expect(icmpv4FromWire(w.type, w.code, w.restOfHeader), s).toEqual(t);
    }
  });
  it('icmpv6_wire_roundtrip: from_wire(to_wire(t)) == t', () => {
    const expected: Icmpv6Type[] = [
      { kind: 'echo_reply', id: 1, seq: 2 },
      { kind: 'echo_request', id: 3, seq: 4 },
      { kind: 'destination_unreachable', unreachable: { reason: 'port' } },
      { kind: 'packet_too_big', mtu: 1280 },
      { kind: 'time_exceeded', code: 0 },
      { kind: 'unknown', type: 200, code: 3, restOfHeader: Uint8Array.of(1, 2, 3, 4) },
    ];
    expect((byId('icmpv6_wire_roundtrip')['values'] as string[]).length).toBe(expected.length);
    for (const t of expected) {
      const w = icmpv6ToWire(t);
      expect(icmpv6FromWire(w.type, w.code, w.restOfHeader)).toEqual(t);
    }
  });
});

describe('ECN', () => {
  const udp = (src: string): IpPacket => parse(buildUdp({ source: addr(src), destination: addr(src), sourcePort: 0, destinationPort: 0 }));
  it.each(['127.0.0.1', '::1'])('ecn_roundtrip: with_ecn(x).ecn() == x (%s)', (a) => {
    for (const e of [Ecn.NonEct, Ecn.Ect0, Ecn.Ect1, Ecn.Ce]) {
      const p = udp(a);
      p.setEcn(e);
      expect(p.ecn).toBe(e);
      expect(p.ipv4HeaderChecksumValid()).toBe(true);
      expect(p.checksumsValid()).toBe(true);
    }
  });
  it('copies CE from the transport onto an ECT(0) packet', () => {
    const p = udp('127.0.0.1');
    p.setEcn(Ecn.Ect0);
    p.setEcnFromTransport(Ecn.Ce);
    expect(p.ecn).toBe(Ecn.Ce);
  });
  it('does not clear ECT(0) when the transport is Not-ECT', () => {
    const p = udp('::1');
    p.setEcn(Ecn.Ect0);
    p.setEcnFromTransport(Ecn.NonEct);
    expect(p.ecn).toBe(Ecn.Ect0);
  });
});

describe('UDP packets', () => {
  it('udp_payload_offset: ip payload[8:] is the UDP payload', () => {
    const foobar = new TextEncoder().encode('foobar');
    const p = parse(buildUdp({ source: addr('127.0.0.1'), destination: addr('127.0.0.1'), sourcePort: 0, destinationPort: 0, payload: foobar }));
    expect(p.ipPayload().subarray(8)).toEqual(foobar);
    expect(p.transportPayload()).toEqual(foobar);
  });
  it('set_src_dst: source and destination are updated', () => {
    const p = parse(buildUdp({ source: addr('127.0.0.1'), destination: addr('127.0.0.1'), sourcePort: 1, destinationPort: 2 }));
    p.setSource(addr('1.1.1.1'));
    expect(p.sourceText()).toBe('1.1.1.1');
    p.setDestination(addr('1.1.1.1'));
    expect(p.destinationText()).toBe('1.1.1.1');
    expect(p.checksumsValid()).toBe(true);
  });
});
