import { describe, expect, it } from 'vitest';
import { DnsError, isSentinelIp, ProxyIpAllocator } from '../../src/index';

describe('ProxyIpAllocator', () => {
  it('hands out 4 v4 and 4 v6 addresses sequentially', () => {
    const a = new ProxyIpAllocator();
    expect(a.allocate()).toEqual([
      '100.96.0.1',
      '100.96.0.2',
      '100.96.0.3',
      '100.96.0.4',
      'fd00:2021:1111:8000::',
      'fd00:2021:1111:8000::1',
      'fd00:2021:1111:8000::2',
      'fd00:2021:1111:8000::3',
    ]);
  });

  it('skips the sentinel range inside 100.96.0.0/11', () => {
    const a = new ProxyIpAllocator('100.100.110.254');
    const ips = a.allocate().filter((ip) => !ip.includes(':'));
    expect(ips).toEqual(['100.100.110.254', '100.100.110.255', '100.100.112.0', '100.100.112.1']);
    expect(ips.some(isSentinelIp)).toBe(false);
  });

  it('reports exhaustion before the broadcast address', () => {
    const a = new ProxyIpAllocator('100.127.255.250');
    expect(a.allocate().slice(0, 4)).toEqual(['100.127.255.250', '100.127.255.251', '100.127.255.252', '100.127.255.253']);
    expect(() => a.allocate()).toThrow(DnsError);
  });

  it('never re-issues reserved addresses', () => {
    const a = new ProxyIpAllocator();
    a.reserve('100.96.0.9');
    a.reserve('fd00:2021:1111:8000::1');
    expect(a.allocate()).toEqual([
      '100.96.0.10',
      '100.96.0.11',
      '100.96.0.12',
      '100.96.0.13',
      'fd00:2021:1111:8000::2',
      'fd00:2021:1111:8000::3',
      'fd00:2021:1111:8000::4',
      'fd00:2021:1111:8000::5',
    ]);
  });
});
