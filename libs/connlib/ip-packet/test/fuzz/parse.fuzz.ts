// Parsers never throw on garbage: they return a view or a typed IpPacketError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildDestinationUnreachable,
  buildTcp,
  buildUdp,
  decodeP2pControl,
  IpPacket,
  IpPacketError,
  parseCidr,
  parseIp,
  type IpPacketErrorCode,
} from '../../src/index';
import { FUZZ_RUNS, report } from './runs';

const CODES: readonly IpPacketErrorCode[] = ['EMPTY', 'BAD_VERSION', 'TOO_SHORT', 'BAD_HEADER_LENGTH', 'BAD_TOTAL_LENGTH', 'BAD_EXTENSION_HEADER', 'TRUNCATED_TRANSPORT'];

/** Exercises every accessor of a parsed packet; none may throw or read out of bounds. */
function touch(p: IpPacket): void {
  expect(p.length).toBeLessThanOrEqual(p.bytes.length);
  p.sourceText();
  p.destinationText();
  const fields = [p.sourcePort, p.destinationPort, p.icmpType, p.icmpIdentifier, p.icmpSequence, p.tcpFlags, p.ttl, p.ecn];
  for (const f of fields) if (f !== undefined) expect(Number.isInteger(f)).toBe(true);
  p.icmpv4();
  p.icmpv6();
  p.transportPayload();
  p.checksumsValid();
  const d = decodeP2pControl(p);
  if (d instanceof IpPacketError) expect(['NOT_P2P_CONTROL', 'TOO_SHORT', 'UNKNOWN_P2P_EVENT', 'BAD_P2P_PAYLOAD']).toContain(d.code);
  buildDestinationUnreachable(p, 'prohibited');
  const q = p.icmpErrorQuote();
  if (!(q instanceof IpPacketError)) {
    q.sourceText();
    if (q.sourcePort !== undefined) q.clone().setSourcePort(1);
  }
  const lenient = IpPacket.parseQuoted(p.bytes);
  if (!(lenient instanceof IpPacketError) && lenient.destinationPort !== undefined) lenient.clone().setDestinationPort(2);
  const c = p.clone();
  c.updateChecksums();
  expect(c.transportChecksumValid()).toBe(true);
}

function check(bytes: Uint8Array): void {
  const r = IpPacket.parse(bytes);
  if (r instanceof IpPacketError) expect(CODES).toContain(r.code);
  else touch(r);
  const q = IpPacket.parseQuoted(bytes);
  if (q instanceof IpPacketError) expect(CODES).toContain(q.code);
  else {
    q.sourceText();
    expect(q.icmpIdentifier === undefined || Number.isInteger(q.icmpIdentifier)).toBe(true);
    if (q.sourcePort !== undefined) q.clone().setSourcePort(7);
  }
}

/** Garbage that looks like an IP header: right version nibble, plausible lengths, then random bytes. */
const headerish = fc
  .tuple(fc.constantFrom(0x45, 0x46, 0x4f, 0x60, 0x40, 0x61), fc.uint8Array({ minLength: 0, maxLength: 120 }), fc.boolean())
  .map(([b0, rest, fixLen]) => {
    const b = new Uint8Array(1 + rest.length);
    b[0] = b0;
    b.set(rest, 1);
    if (fixLen && b.length >= 8) {
      if (b0 >> 4 === 4) {
        b[2] = b.length >> 8;
        b[3] = b.length & 0xff;
      } else {
        b[4] = (b.length - 40) >> 8;
        b[5] = (b.length - 40) & 0xff;
      }
    }
    return b;
  });

/** Valid packets with one mutated byte. */
const mutated = fc
  .tuple(fc.boolean(), fc.constantFrom('udp', 'tcp'), fc.uint8Array({ maxLength: 40 }), fc.nat(), fc.integer({ min: 0, max: 255 }))
  .map(([v6, kind, payload, pos, val]) => {
    const s = v6 ? new Uint8Array(16).fill(1) : Uint8Array.of(10, 0, 0, 1);
    const d = v6 ? new Uint8Array(16).fill(2) : Uint8Array.of(10, 0, 0, 2);
    const b = kind === 'udp' ? buildUdp({ source: s, destination: d, sourcePort: 1, destinationPort: 2, payload }) : buildTcp({ source: s, destination: d, sourcePort: 1, destinationPort: 2, payload });
    b[pos % b.length] = val;
    return b;
  });

describe('fuzz: parsers never throw', () => {
  it('IpPacket.parse on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: FUZZ_RUNS });
    report('IpPacket.parse(random bytes)', FUZZ_RUNS);
  });
  it('IpPacket.parse on header-shaped garbage', () => {
    fc.assert(fc.property(headerish, check), { numRuns: FUZZ_RUNS });
    report('IpPacket.parse(header-shaped garbage)', FUZZ_RUNS);
  });
  it('IpPacket.parse on mutated valid packets', () => {
    fc.assert(fc.property(mutated, check), { numRuns: FUZZ_RUNS });
    report('IpPacket.parse(mutated valid packets)', FUZZ_RUNS);
  });
  it('p2p control decode on random bodies', () => {
    const body = fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.json().map((j) => new TextEncoder().encode(j)));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), body, (type, json) => {
        const b = new Uint8Array(48 + json.length);
        b[0] = 0x60;
        b[4] = (8 + json.length) >> 8;
        b[5] = (8 + json.length) & 0xff;
        b[6] = 0xff;
        b[40] = type;
        b.set(json, 48);
        const p = IpPacket.parse(b);
        if (p instanceof IpPacketError) throw p;
        const r = decodeP2pControl(p);
        if (r instanceof IpPacketError) expect(['UNKNOWN_P2P_EVENT', 'BAD_P2P_PAYLOAD']).toContain(r.code);
      }),
      { numRuns: FUZZ_RUNS },
    );
    report('decodeP2pControl(random bodies)', FUZZ_RUNS);
  });
  it('parseIp / parseCidr on random strings', () => {
    const text = fc.oneof(fc.string({ maxLength: 50 }), fc.stringMatching(/^[0-9a-fA-F:./]{0,45}$/));
    fc.assert(
      fc.property(text, (s) => {
        parseIp(s);
        parseCidr(s);
      }),
      { numRuns: FUZZ_RUNS },
    );
    report('parseIp/parseCidr(random strings)', FUZZ_RUNS);
  });
});
