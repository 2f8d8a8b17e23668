import { describe, expect, it } from 'vitest';
import { buildDestinationUnreachable, buildIcmpv4, buildIcmpv6, buildTcp, buildUdp, parseIpPacket, IpPacketError } from '../../src/index';
import { addr, parse } from './helpers';

describe('ICMP destination unreachable answers', () => {
  it('answers an IPv4 packet refused by a filter with type 3 code 13 from the resource, quoting it', () => {
    const offending = parse(buildTcp({ source: addr('100.64.0.2'), destination: addr('10.0.0.5'), sourcePort: 40000, destinationPort: 22 }));
    const bytes = buildDestinationUnreachable(offending, 'prohibited');
    if (!bytes) throw new Error('no answer');
    const p = parse(bytes);
    expect([p.sourceText(), p.destinationText()]).toEqual(['10.0.0.5', '100.64.0.2']);
    expect(p.icmpv4()).toEqual({ kind: 'destination_unreachable', unreachable: { reason: 'admin_prohibited' } });
    expect(p.transportPayload()).toEqual(offending.bytes);
    expect(p.checksumsValid()).toBe(true);
  });

  it('answers a forbidden IPv4 destination with network unreachable (code 0)', () => {
    const offending = parse(buildUdp({ source: addr('100.64.0.2'), destination: addr('127.0.0.1'), sourcePort: 1, destinationPort: 2 }));
    const p = parse(buildDestinationUnreachable(offending, 'network_unreachable') ?? new Uint8Array(0));
    expect([p.icmpType, p.icmpCode]).toEqual([3, 0]);
  });

  it('answers IPv6 with type 1 code 1 (prohibited) / code 0 (no route), within 1280 bytes', () => {
    const big = parse(buildUdp({ source: addr('fd00:2021:1111::2'), destination: addr('fd00::5'), sourcePort: 1, destinationPort: 2, payload: new Uint8Array(1400) }));
    const pro = parse(buildDestinationUnreachable(big, 'prohibited') ?? new Uint8Array(0));
    expect([pro.icmpType, pro.icmpCode, pro.length]).toEqual([1, 1, 1280]);
    expect(pro.checksumsValid()).toBe(true);
    const nr = parse(buildDestinationUnreachable(big, 'network_unreachable', { source: addr('fd00::99') }) ?? new Uint8Array(0));
    expect([nr.icmpCode, nr.sourceText()]).toEqual([0, 'fd00::99']);
  });

  it('caps an IPv4 answer at 576 bytes', () => {
    const big = parse(buildUdp({ source: addr('100.64.0.2'), destination: addr('10.0.0.1'), sourcePort: 1, destinationPort: 2, payload: new Uint8Array(1000) }));
    expect(buildDestinationUnreachable(big, 'prohibited')?.length).toBe(576);
  });

  it('never answers an ICMP error with another', () => {
    const offending = parse(buildUdp({ source: addr('100.64.0.2'), destination: addr('10.0.0.5'), sourcePort: 1, destinationPort: 2 }));
    const err = parseIpPacket(buildDestinationUnreachable(offending, 'prohibited') ?? new Uint8Array(0));
    if (err instanceof IpPacketError) throw err;
    expect(buildDestinationUnreachable(err, 'prohibited')).toBeUndefined();
  });
});

describe('NAT of ICMP errors (the quoted packet)', () => {
  it.each([
    ['IPv4', '100.64.0.2', '100.96.0.1', '10.0.0.1', 28],
    ['IPv6', 'fd00:2021:1111::2', 'fd00:2021:1111:8000::1', 'fd00::10', 48],
  ])('%s: translates the quote of an error about a NATed packet back to the proxy address', (_f, client, proxy, real, quoteLen) => {
    const original = buildUdp({ source: addr(client), destination: addr(proxy), sourcePort: 40000, destinationPort: 53, payload: new Uint8Array(40).fill(7) });
    const natted = parse(Uint8Array.from(original));
    natted.setDestination(addr(real));
    natted.setDestinationPort(5353);
    // The resource answers with a port unreachable quoting (part of) what it got.
    const icmp = addr(real).length === 4 ? { kind: 'destination_unreachable' as const, unreachable: { reason: 'port' as const } } : undefined;
    const err = parse(
      icmp
        ? buildIcmpv4({ source: addr(real), destination: addr(client), icmp, payload: natted.bytes.subarray(0, quoteLen) })
        : buildIcmpv6({ source: addr(real), destination: addr(client), icmp: { kind: 'destination_unreachable', unreachable: { reason: 'port' } }, payload: natted.bytes.subarray(0, quoteLen) }),
    );
    const quote = err.icmpErrorQuote();
    if (quote instanceof IpPacketError) throw quote;
    expect([quote.destinationText(), quote.destinationPort, quote.sourcePort]).toEqual([real, 5353, 40000]);
    quote.setDestination(addr(proxy));
    quote.setDestinationPort(53);
    err.setSource(addr(proxy));
    err.updateChecksums();
    expect(err.checksumsValid()).toBe(true);
    expect(Array.from(quote.bytes)).toEqual(Array.from(original.subarray(0, quoteLen)));
  });

  it('refuses to find a quote in a packet that is not an ICMP error', () => {
    const p = parse(buildUdp({ source: addr('10.0.0.1'), destination: addr('10.0.0.2'), sourcePort: 1, destinationPort: 2 }));
    const q = p.icmpErrorQuote();
    expect(q instanceof IpPacketError && q.code).toBe('NOT_ICMP_ERROR');
  });
});
