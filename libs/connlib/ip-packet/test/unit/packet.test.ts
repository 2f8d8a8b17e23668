import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildEchoRequest, buildTcp, buildUdp, IpPacket, IpPacketError, IpProtocol, parseCidr, TcpFlags } from '../../src/index';
import { addr, parse } from './helpers';

const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const port = fc.integer({ min: 0, max: 65535 });
const payload = fc.uint8Array({ maxLength: 64 });

type Kind = 'udp' | 'tcp' | 'icmp';
function build(kind: Kind, src: Uint8Array, dst: Uint8Array, sp: number, dp: number, body: Uint8Array): Uint8Array {
  if (kind === 'udp') return buildUdp({ source: src, destination: dst, sourcePort: sp, destinationPort: dp, payload: body });
  if (kind === 'tcp') return buildTcp({ source: src, destination: dst, sourcePort: sp, destinationPort: dp, seq: 7, flags: TcpFlags.SYN, payload: body });
  return buildEchoRequest({ source: src, destination: dst, id: sp, seq: dp, payload: body });
}

describe('IpPacket parse', () => {
  it('reads the fields of a built UDP/IPv4 packet in place', () => {
    const bytes = buildUdp({ source: addr('10.0.0.1'), destination: addr('10.0.0.2'), sourcePort: 1234, destinationPort: 53, payload: Uint8Array.of(1, 2, 3), hopLimit: 17 });
    const p = parse(bytes);
    expect(p.bytes.buffer).toBe(bytes.buffer);
    expect([p.version, p.protocol, p.ttl, p.sourcePort, p.destinationPort]).toEqual([4, IpProtocol.UDP, 17, 1234, 53]);
    expect([p.sourceText(), p.destinationText()]).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(p.sourceV4()).toBe(0x0a000001);
    expect(p.checksumsValid()).toBe(true);
    expect(p.icmpType).toBeUndefined();
  });

  it('reads TCP flags and ICMPv6 echo identifiers', () => {
    const tcp = parse(buildTcp({ source: addr('fd00::1'), destination: addr('fd00::2'), sourcePort: 1, destinationPort: 443, flags: TcpFlags.SYN }));
    expect(tcp.tcpFlags).toBe(TcpFlags.SYN);
    expect(tcp.checksumsValid()).toBe(true);
    const echo = parse(buildEchoRequest({ source: addr('fd00::1'), destination: addr('fd00::2'), id: 77, seq: 3 }));
    expect([echo.icmpType, echo.icmpIdentifier, echo.icmpSequence]).toEqual([128, 77, 3]);
    expect(echo.icmpv6()).toEqual({ kind: 'echo_request', id: 77, seq: 3 });
    expect(echo.checksumsValid()).toBe(true);
  });

  it('trims a buffer longer than the IP total length to the packet', () => {
    const bytes = buildUdp({ source: addr('10.0.0.1'), destination: addr('10.0.0.2'), sourcePort: 1, destinationPort: 2 });
    const big = new Uint8Array(bytes.length + 100);
    big.set(bytes);
    expect(parse(big).length).toBe(bytes.length);
  });

  it.each([
    ['EMPTY', new Uint8Array(0)],
    ['BAD_VERSION', Uint8Array.of(0x50, 0, 0, 0)],
    ['TOO_SHORT', Uint8Array.of(0x45, 0, 0, 20)],
    ['TOO_SHORT', Uint8Array.of(0x60, 0, 0, 0)],
  ])('returns %s for malformed input', (code, bytes) => {
    const r = IpPacket.parse(bytes);
    expect(r).toBeInstanceOf(IpPacketError);
    expect(r instanceof IpPacketError && r.code).toBe(code);
  });

  it('returns BAD_TOTAL_LENGTH / TRUNCATED_TRANSPORT for lying length fields', () => {
    const bytes = buildUdp({ source: addr('10.0.0.1'), destination: addr('10.0.0.2'), sourcePort: 1, destinationPort: 2, payload: new Uint8Array(8) });
    const longer = Uint8Array.from(bytes);
    longer[3] = (longer[3] ?? 0) + 1;
    expect((IpPacket.parse(longer) as IpPacketError).code).toBe('BAD_TOTAL_LENGTH');
    const udpLie = Uint8Array.from(bytes);
    udpLie[25] = 200;
    expect((IpPacket.parse(udpLie) as IpPacketError).code).toBe('TRUNCATED_TRANSPORT');
  });

  it('walks IPv6 extension headers to the transport', () => {
    const inner = buildUdp({ source: addr('fd00::1'), destination: addr('fd00::2'), sourcePort: 5, destinationPort: 6 }).subarray(40);
    const b = new Uint8Array(40 + 8 + inner.length);
    b[0] = 0x60;
    b[4] = 0;
    b[5] = 8 + inner.length;
    b[6] = 0; // hop-by-hop
    b[7] = 64;
    b.set(addr('fd00::1'), 8);
    b.set(addr('fd00::2'), 24);
    b[40] = IpProtocol.UDP;
    b[41] = 0;
    b.set(inner, 48);
    const p = parse(b);
    expect([p.protocol, p.transportOffset, p.sourcePort]).toEqual([IpProtocol.UDP, 48, 5]);
    p.updateChecksums();
    expect(p.transportChecksumValid()).toBe(true);
  });

  it('tests destinations against CIDRs without allocating views', () => {
    const p = parse(buildUdp({ source: addr('100.64.0.1'), destination: addr('10.1.2.3'), sourcePort: 1, destinationPort: 2 }));
    const net = parseCidr('10.0.0.0/8');
    const other = parseCidr('fd00::/8');
    if (!net || !other) throw new Error('cidr');
    expect(p.destinationIn(net)).toBe(true);
    expect(p.sourceIn(net)).toBe(false);
    expect(p.destinationIn(other)).toBe(false);
    expect(p.sourceEquals(addr('100.64.0.1'))).toBe(true);
  });
});

describe('in-place rewriting with incremental checksums', () => {
  const kinds = fc.constantFrom<Kind>('udp', 'tcp', 'icmp');
  const fam = fc.oneof(fc.tuple(v4, v4, v4, v4), fc.tuple(v6, v6, v6, v6));

  it('rewriting addresses and ports leaves every checksum equal to a full recomputation', () => {
    fc.assert(
      fc.property(kinds, fam, port, port, port, port, payload, (kind, [s, d, s2, d2], sp, dp, sp2, dp2, body) => {
        const p = parse(build(kind, s, d, sp, dp, body));
        p.setSource(s2);
        p.setDestination(d2);
        if (kind === 'icmp') p.setIcmpIdentifier(sp2);
        else {
          p.setSourcePort(sp2);
          p.setDestinationPort(dp2);
        }
        expect(p.checksumsValid()).toBe(true);
        const expected = build(kind, s2, d2, kind === 'icmp' ? sp2 : sp2, kind === 'icmp' ? dp : dp2, body);
        const e = parse(expected);
        // Same bytes except where 0x0000 and 0xFFFF are both valid encodings of the checksum.
        const ours = parse(Uint8Array.from(p.bytes));
        ours.updateChecksums();
        expect(Array.from(ours.bytes)).toEqual(Array.from(e.bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a UDP/IPv4 checksum of 0 ("none") at 0', () => {
    const p = parse(buildUdp({ source: addr('10.0.0.1'), destination: addr('10.0.0.2'), sourcePort: 1, destinationPort: 2 }));
    p.bytes[26] = 0;
    p.bytes[27] = 0;
    p.setDestination(addr('10.9.9.9'));
    p.setDestinationPort(99);
    expect([p.bytes[26], p.bytes[27]]).toEqual([0, 0]);
    expect(p.checksumsValid()).toBe(true);
  });

  it('refuses an address of the other family and ports on a portless packet', () => {
    const p = parse(buildEchoRequest({ source: addr('10.0.0.1'), destination: addr('10.0.0.2'), id: 1, seq: 1 }));
    expect(() => {
      p.setSource(addr('::1'));
    }).toThrow(IpPacketError);
    expect(() => {
      p.setSourcePort(1);
    }).toThrow(/NO_TRANSPORT|no TCP/);
  });

  it('decrementing the TTL keeps the IPv4 header checksum valid', () => {
    const p = parse(buildUdp({ source: addr('10.0.0.1'), destination: addr('10.0.0.2'), sourcePort: 1, destinationPort: 2 }));
    p.ttl = p.ttl - 1;
    expect(p.ttl).toBe(63);
    expect(p.ipv4HeaderChecksumValid()).toBe(true);
  });
});
