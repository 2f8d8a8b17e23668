import { describe, expect, it } from 'vitest';
import { mapProxyIps, NAT_TTL_MS, NAT_UNCONFIRMED_TTL_MS, NatTable } from '../../src/index';

describe('mapProxyIps', () => {
  it('maps each proxy IP to a real IP of the same family, cycling, never across families', () => {
    const proxies = ['100.96.0.1', '100.96.0.2', '100.96.0.3', '100.96.0.4', 'fd00:2021:1111:8000::', 'fd00:2021:1111:8000::1'];
    const m = mapProxyIps(proxies, ['10.0.0.1', '10.0.0.2', '2001:DB8::1']);
    expect([...m]).toEqual([
      ['100.96.0.1', '10.0.0.1'],
      ['100.96.0.2', '10.0.0.2'],
      ['100.96.0.3', '10.0.0.1'],
      ['100.96.0.4', '10.0.0.2'],
      ['fd00:2021:1111:8000::', '2001:db8::1'],
      ['fd00:2021:1111:8000::1', '2001:db8::1'],
    ]);
    expect([...mapProxyIps(proxies, ['10.0.0.1']).keys()].every((p) => !p.includes(':'))).toBe(true);
  });
});

describe('NatTable', () => {
  it('translates out and the reply back', () => {
    const t = new NatTable();
    const out = t.translateOutbound({ protocol: 'tcp', port: 40000, ip: '100.96.0.1' }, '10.0.0.1', 0);
    expect(out).toEqual({ kind: 'ok', created: true, outside: { protocol: 'tcp', port: 40000, ip: '10.0.0.1' } });
    expect(t.translateInbound({ protocol: 'tcp', port: 40000, ip: '10.0.0.1' }, 10)).toEqual({
      kind: 'ok',
      inside: { protocol: 'tcp', port: 40000, ip: '100.96.0.1' },
    });
    expect(t.translateOutbound({ protocol: 'tcp', port: 40000, ip: '100.96.0.1' }, '10.9.9.9', 20)).toMatchObject({ created: false, outside: { ip: '10.0.0.1' } });
  });

  it('keeps two names on the same real IP apart by giving the second a new source port', () => {
    const t = new NatTable();
    const a = t.translateOutbound({ protocol: 'udp', port: 5000, ip: '100.96.0.1' }, '10.0.0.1', 0);
    const b = t.translateOutbound({ protocol: 'udp', port: 5000, ip: '100.96.0.5' }, '10.0.0.1', 0);
    if (a.kind !== 'ok' || b.kind !== 'ok') throw new Error('not ok');
    expect(a.outside.port).toBe(5000);
    expect(b.outside.port).toBe(5001);
    expect(t.translateInbound(b.outside, 1)).toMatchObject({ inside: { ip: '100.96.0.5', port: 5000 } });
    expect(t.translateInbound(a.outside, 1)).toMatchObject({ inside: { ip: '100.96.0.1', port: 5000 } });
    // TCP and ICMP with the same number are separate.
    expect(t.translateOutbound({ protocol: 'icmp', port: 5000, ip: '100.96.0.5' }, '10.0.0.1', 0)).toMatchObject({ outside: { port: 5000 } });
  });

  it('wraps around the port space and reports exhaustion', () => {
    const t = new NatTable();
    const first = t.translateOutbound({ protocol: 'udp', port: 65535, ip: '100.96.0.1' }, '10.0.0.1', 0);
    const second = t.translateOutbound({ protocol: 'udp', port: 65535, ip: '100.96.0.2' }, '10.0.0.1', 0);
    expect(first).toMatchObject({ outside: { port: 65535 } });
    expect(second).toMatchObject({ outside: { port: 1 } });
    for (let port = 2; port <= 65534; port++) t.translateOutbound({ protocol: 'udp', port, ip: '100.96.0.3' }, '10.0.0.1', 0);
    expect(t.size).toBe(65535);
    expect(t.translateOutbound({ protocol: 'udp', port: 9, ip: '100.96.0.4' }, '10.0.0.1', 0)).toEqual({ kind: 'exhausted' });
    // Another real IP still has room.
    expect(t.translateOutbound({ protocol: 'udp', port: 9, ip: '100.96.0.4' }, '10.0.0.2', 0).kind).toBe('ok');
  });

  it('rejects invalid tuples and NAT64', () => {
    const t = new NatTable();
    expect(t.translateOutbound({ protocol: 'udp', port: 0, ip: '100.96.0.1' }, '10.0.0.1', 0).kind).toBe('invalid');
    expect(t.translateOutbound({ protocol: 'udp', port: 1, ip: '100.96.0.1' }, '2001:db8::1', 0).kind).toBe('invalid');
    expect(t.translateOutbound({ protocol: 'tcp', port: 70000, ip: '100.96.0.1' }, '10.0.0.1', 0).kind).toBe('invalid');
    expect(t.translateOutbound({ protocol: 'icmp', port: 0, ip: '100.96.0.1' }, '10.0.0.1', 0).kind).toBe('ok');
  });

  it('expires unconfirmed mappings after a minute and confirmed ones after the protocol TTL', () => {
    const t = new NatTable();
    t.translateOutbound({ protocol: 'udp', port: 1000, ip: '100.96.0.1' }, '10.0.0.1', 0);
    t.translateOutbound({ protocol: 'tcp', port: 1000, ip: '100.96.0.1' }, '10.0.0.1', 0);
    t.translateInbound({ protocol: 'tcp', port: 1000, ip: '10.0.0.1' }, 0);
    expect(t.pollTimeout()).toBe(NAT_UNCONFIRMED_TTL_MS);
    t.handleTimeout(NAT_UNCONFIRMED_TTL_MS);
    expect(t.pollTimeout()).toBe(NAT_TTL_MS.tcp);
    expect(t.translateInbound({ protocol: 'udp', port: 1000, ip: '10.0.0.1' }, NAT_UNCONFIRMED_TTL_MS)).toEqual({ kind: 'expired' });
    expect(t.size).toBe(1);
    t.handleTimeout(NAT_TTL_MS.tcp - 1);
    expect(t.size).toBe(1);
    t.handleTimeout(NAT_TTL_MS.tcp);
    expect(t.size).toBe(0);
    expect(t.translateInbound({ protocol: 'tcp', port: 1000, ip: '10.0.0.1' }, NAT_TTL_MS.tcp)).toEqual({ kind: 'expired' });
    expect(t.translateInbound({ protocol: 'tcp', port: 9, ip: '10.0.0.1' }, 0)).toEqual({ kind: 'no-session' });
  });

  it('closes TCP mappings at once on RST and 5 s after FIN both ways', () => {
    const t = new NatTable();
    t.translateOutbound({ protocol: 'tcp', port: 1, ip: '100.96.0.1' }, '10.0.0.1', 0);
    t.translateInbound({ protocol: 'tcp', port: 1, ip: '10.0.0.1' }, 100, { rst: true });
    t.handleTimeout(100);
    expect(t.size).toBe(0);
    t.translateOutbound({ protocol: 'tcp', port: 2, ip: '100.96.0.1' }, '10.0.0.1', 0, { fin: true });
    t.translateInbound({ protocol: 'tcp', port: 2, ip: '10.0.0.1' }, 1000, { fin: true });
    t.handleTimeout(5999);
    expect(t.size).toBe(1);
    t.handleTimeout(6000);
    expect(t.size).toBe(0);
  });

  it('drops the mappings of proxy IPs the client lost', () => {
    const t = new NatTable();
    t.translateOutbound({ protocol: 'udp', port: 7, ip: '100.96.0.1' }, '10.0.0.1', 0);
    t.translateOutbound({ protocol: 'udp', port: 7, ip: '100.96.0.5' }, '10.0.0.2', 0);
    t.removeProxyIps(['100.96.0.1'], 0);
    expect(t.entries().map((e) => e.inside.ip)).toEqual(['100.96.0.5']);
  });
});
