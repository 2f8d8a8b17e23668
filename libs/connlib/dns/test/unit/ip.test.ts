import { describe, expect, it } from 'vitest';
import { isProxyIp, isSentinelIp, normalizeIp, parseIp, reverseDnsName, reverseDnsAddr, formatIp } from '../../src/index';

describe('IP helpers', () => {
  it('formats IPv6 canonically (RFC 5952)', () => {
    expect(normalizeIp('FD00:2021:1111:8000:0:0:0:0')).toBe('fd00:2021:1111:8000::');
    expect(normalizeIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(normalizeIp('2001:0db8::0001')).toBe('2001:db8::1');
    expect(normalizeIp('::')).toBe('::');
    expect(normalizeIp('::ffff:1.2.3.4')).toBe('::ffff:102:304');
    expect(normalizeIp('1:2:3:4:5:6:7:8')).toBe('1:2:3:4:5:6:7:8');
    expect(normalizeIp('1:0:3:4:5:6:7:8')).toBe('1:0:3:4:5:6:7:8');
  });

  it('rejects malformed addresses', () => {
    for (const bad of ['', '1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', ':1', 'g::1', 'fe80::1%eth0', '1:2:3:4:5:6:7::8']) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  it('knows the proxy and sentinel ranges', () => {
    expect(isProxyIp('100.96.0.1')).toBe(true);
    expect(isProxyIp('100.127.255.254')).toBe(true);
    expect(isProxyIp('100.128.0.0')).toBe(false);
    expect(isProxyIp('fd00:2021:1111:8000::1f:ffff')).toBe(true);
    expect(isProxyIp('fd00:2021:1111:8000::20:0')).toBe(false);
    expect(isSentinelIp('100.100.111.9')).toBe(true);
    expect(isSentinelIp('fd00:2021:1111:8000:100:100:111:ff')).toBe(true);
    expect(isSentinelIp('fd00:2021:1111:8000:100:100:112:0')).toBe(false);
  });

  it('round-trips reverse-DNS names', () => {
    for (const s of ['10.1.2.3', '2001:db8::567:89ab']) {
      const ip = parseIp(s);
      if (!ip) throw new Error(s);
      const back = reverseDnsAddr(reverseDnsName(ip));
      expect(back && formatIp(back)).toBe(s);
    }
  });
});
