import { describe, expect, it } from 'vitest';
import { parseCidr, PeerPolicy } from '../../src/index';

describe('PeerPolicy', () => {
  const p = new PeerPolicy();
  it('refuses unspecified, loopback, link-local, multicast, reserved and broadcast addresses', () => {
    for (const ip of ['0.0.0.0', '0.1.2.3', '127.0.0.1', '127.255.0.1', '169.254.9.9', '224.0.0.251', '239.1.1.1', '240.0.0.1', '255.255.255.255', '::', '::1', 'fe80::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1']) {
      expect(p.isAllowed(ip), ip).toBe(false);
    }
  });
  it('allows ordinary unicast including the test underlay 198.18.0.0/15', () => {
    for (const ip of ['198.18.16.2', '8.8.8.8', '10.0.0.1', '2001:db8::1', 'fd00::1', '::ffff:198.18.16.2']) expect(p.isAllowed(ip), ip).toBe(true);
  });
  it('honours allow and deny lists', () => {
    const q = new PeerPolicy({ allowed: [parseCidr('127.0.0.1/32')].flatMap((c) => (c ? [c] : [])), denied: [parseCidr('10.0.0.0/8')].flatMap((c) => (c ? [c] : [])) });
    expect(q.isAllowed('127.0.0.1')).toBe(true);
    expect(q.isAllowed('127.0.0.2')).toBe(false);
    expect(q.isAllowed('10.1.2.3')).toBe(false);
    expect(parseCidr('1.2.3.4/33')).toBeUndefined();
    expect(parseCidr('nonsense')).toBeUndefined();
  });
});
