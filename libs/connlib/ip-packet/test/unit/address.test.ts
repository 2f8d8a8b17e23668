import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isIP } from 'node:net';
import { cidrContains, cidrContainsCidr, cidrOverlaps, commonPrefixLength, comparePrefix, formatCidr, formatIp, ipEquals, parseCidr, parseIp, type Cidr } from '../../src/index';

function cidr(s: string): Cidr {
  const c = parseCidr(s);
  if (!c) throw new Error(s);
  return c;
}

describe('addresses', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['::', '::'],
    ['::1', '::1'],
    ['fd00:2021:1111:8000:100:100:111:0', 'fd00:2021:1111:8000:100:100:111:0'],
    ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['64:ff9b::10.0.0.1', '64:ff9b::a00:1'],
  ])('parses %s and formats it as %s (RFC 5952)', (input, out) => {
    const a = parseIp(input);
    expect(a && formatIp(a)).toBe(out);
  });

  it.each(['', '1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', ':::', '1:2:3:4:5:6:7:8:9', 'g::1', '1.2.3.4/8', ' 1.2.3.4'])('rejects %j', (s) => {
    expect(parseIp(s)).toBeUndefined();
  });

  it('formats like Node and round-trips random addresses', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const a = parseIp(text);
        expect(a).toBeDefined();
        if (!a) return;
        const shown = formatIp(a);
        expect(isIP(shown)).toBe(a.length === 4 ? 4 : 6);
        const again = parseIp(shown);
        expect(again && ipEquals(again, a)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('CIDR', () => {
  it('clears host bits unless strict', () => {
    expect(formatCidr(cidr('10.0.0.5/24'))).toBe('10.0.0.0/24');
    expect(parseCidr('10.0.0.5/24', { strict: true })).toBeUndefined();
    expect(formatCidr(cidr('fd00:2021:1111::/107'))).toBe('fd00:2021:1111::/107');
    expect(formatCidr(cidr('1.2.3.4'))).toBe('1.2.3.4/32');
    expect(parseCidr('1.2.3.4/33')).toBeUndefined();
    expect(parseCidr('::/129')).toBeUndefined();
  });

  it('contains the addresses of its range only, per family', () => {
    const dns = cidr('100.96.0.0/11');
    expect(cidrContains(dns, parseIp('100.96.0.1') ?? new Uint8Array())).toBe(true);
    expect(cidrContains(dns, parseIp('100.127.255.255') ?? new Uint8Array())).toBe(true);
    expect(cidrContains(dns, parseIp('100.128.0.0') ?? new Uint8Array())).toBe(false);
    expect(cidrContains(cidr('0.0.0.0/0'), parseIp('::1') ?? new Uint8Array())).toBe(false);
    expect(cidrContains(cidr('::/0'), parseIp('::1') ?? new Uint8Array())).toBe(true);
    expect(cidrContainsCidr(cidr('10.0.0.0/8'), cidr('10.1.0.0/16'))).toBe(true);
    expect(cidrOverlaps(cidr('10.1.0.0/16'), cidr('10.0.0.0/8'))).toBe(true);
    expect(cidrOverlaps(cidr('10.1.0.0/16'), cidr('10.2.0.0/16'))).toBe(false);
  });

  it('sorting by comparePrefix puts the longest match first', () => {
    const routes = ['0.0.0.0/0', '10.0.0.0/8', '10.1.0.0/16', '::/0', '10.1.2.0/24'].map(cidr).sort(comparePrefix);
    const a = parseIp('10.1.2.3') ?? new Uint8Array();
    expect(formatCidr(routes.find((r) => cidrContains(r, a)) ?? cidr('::/0'))).toBe('10.1.2.0/24');
  });

  it('a prefix contains exactly the addresses sharing at least its prefix length (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }), (net, a, prefix) => {
        const c = parseCidr(`${formatIp(net)}/${prefix}`);
        if (!c) throw new Error('cidr');
        expect(cidrContains(c, a)).toBe(commonPrefixLength(c.address, a) >= prefix);
      }),
      { numRuns: 500 },
    );
  });
});
