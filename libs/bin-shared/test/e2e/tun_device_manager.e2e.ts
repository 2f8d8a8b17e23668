// Real kernel: a persistent TUN named like Postern's inside a throwaway network namespace.
import { Netns, removeLeftovers } from '../support/netns';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTERN_FWMARK, POSTERN_ROUTE_TABLE, TunDeviceManager, parseIpNetwork } from '../../src/index';

const NS = 'pbs-tdm';
const TUN = 'tun-postern';

describe('TunDeviceManager in a network namespace', () => {
  let ns: Netns;
  beforeAll(async () => {
    removeLeftovers('pbs-tdm');
    ns = await Netns.create(NS);
    await ns.exec('ip', ['tuntap', 'add', 'dev', TUN, 'mode', 'tun']);
    await ns.exec('ip', ['link', 'add', 'pbs-lan0', 'type', 'veth', 'peer', 'name', 'pbs-lan1']);
    await ns.exec('ip', ['link', 'set', 'pbs-lan1', 'up']);
    await ns.exec('ip', ['addr', 'add', '198.18.12.1/24', 'dev', 'pbs-lan0']);
    await ns.exec('ip', ['link', 'set', 'pbs-lan0', 'up']);
    await ns.exec('ip', ['route', 'add', 'default', 'via', '198.18.12.254', 'dev', 'pbs-lan0']);
  });
  afterAll(async () => {
    await ns.destroy();
    removeLeftovers('pbs-tdm');
  });

  it('sets the addresses, MTU and up, and re-setting is idempotent', async () => {
    const m = new TunDeviceManager({ tunName: TUN, mtu: 1280, netnsPath: `/run/netns/${NS}` });
    try {
      expect(await m.setIps('100.64.0.7', 'fd00:2021:1111::7')).toEqual({ ipv6: true });
      expect(await m.setIps('100.64.0.8', 'fd00:2021:1111::8')).toEqual({ ipv6: true });
      const addrs = await ns.exec('ip', ['-o', 'addr', 'show', 'dev', TUN]);
      expect(addrs).toContain('inet 100.64.0.8/32');
      expect(addrs).toContain('inet6 fd00:2021:1111::8/128');
      expect(addrs).not.toContain('100.64.0.7');
      expect(addrs).not.toContain('fd00:2021:1111::7');
      const link = await ns.exec('ip', ['-o', 'link', 'show', 'dev', TUN]);
      expect(link).toMatch(/mtu 1280/);
      expect(link).toMatch(/[<,]UP[,>]/);
    } finally {
      await m.close();
    }
  });

  it('keeps exactly the wanted routes in its own table, with fwmark rules and LAN throw routes', async () => {
    const m = new TunDeviceManager({ tunName: TUN, netnsPath: `/run/netns/${NS}` });
    try {
      await m.setIps('100.64.0.8', 'fd00:2021:1111::8');
      await m.setRoutes([parseIpNetwork('100.64.0.0/11'), parseIpNetwork('10.1.2.3/8')], [parseIpNetwork('fd00:2021:1111::/107')]);
      await m.setRoutes([parseIpNetwork('100.64.0.0/11'), parseIpNetwork('0.0.0.0/0')], [parseIpNetwork('fd00:2021:1111::/107')]);
      const v4 = await ns.exec('ip', ['-4', 'route', 'show', 'table', String(POSTERN_ROUTE_TABLE)]);
      expect(v4).toContain(`default dev ${TUN}`);
      expect(v4).toContain(`100.64.0.0/11 dev ${TUN}`);
      expect(v4).not.toContain('10.0.0.0/8');
      expect(v4).toContain('throw 198.18.12.0/24');
      const v6 = await ns.exec('ip', ['-6', 'route', 'show', 'table', String(POSTERN_ROUTE_TABLE)]);
      expect(v6).toContain(`fd00:2021:1111::/107 dev ${TUN}`);
      const rules = await ns.exec('ip', ['-4', 'rule', 'show']);
      expect(rules).toContain(`not from all fwmark 0x${POSTERN_FWMARK.toString(16)} lookup ${POSTERN_ROUTE_TABLE}`);
      const rules6 = await ns.exec('ip', ['-6', 'rule', 'show']);
      expect(rules6).toContain(`lookup ${POSTERN_ROUTE_TABLE}`);
      // The kernel's routing decisions: LAN bypasses, the rest goes into the TUN, marked packets skip it.
      expect(await ns.exec('ip', ['route', 'get', '198.18.12.9'])).toContain('dev pbs-lan0');
      expect(await ns.exec('ip', ['route', 'get', '203.0.113.5'])).toContain(`dev ${TUN}`);
      expect(await ns.exec('ip', ['route', 'get', '203.0.113.5', 'mark', String(POSTERN_FWMARK)])).toContain('via 198.18.12.254 dev pbs-lan0');
    } finally {
      await m.close();
    }
    expect(await ns.exec('ip', ['-4', 'route', 'show', 'table', String(POSTERN_ROUTE_TABLE)])).toBe('');
    expect(await ns.exec('ip', ['rule', 'show'])).not.toContain(String(POSTERN_ROUTE_TABLE));
  });

  it('routes that vanished behind our back and routes that exist already are fine', async () => {
    const m = new TunDeviceManager({ tunName: TUN, netnsPath: `/run/netns/${NS}` });
    try {
      await m.setIps('100.64.0.8', undefined);
      await m.setRoutes([parseIpNetwork('100.100.111.0/24')], []);
      await ns.exec('ip', ['route', 'del', '100.100.111.0/24', 'table', String(POSTERN_ROUTE_TABLE)]);
      await ns.exec('ip', ['route', 'add', '100.96.0.0/11', 'dev', TUN, 'table', String(POSTERN_ROUTE_TABLE)]);
      await m.setRoutes([parseIpNetwork('100.96.0.0/11')], []); // delete -> ESRCH, add -> EEXIST
      const v4 = await ns.exec('ip', ['-4', 'route', 'show', 'table', String(POSTERN_ROUTE_TABLE)]);
      expect(v4).toContain('100.96.0.0/11');
      expect(v4).not.toContain('100.100.111.0');
    } finally {
      await m.close();
    }
  });

  it('runs IPv4-only without failing when IPv6 is disabled', async () => {
    await ns.exec('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    await ns.exec('sysctl', ['-qw', `net.ipv6.conf.${TUN}.disable_ipv6=1`]);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const m = new TunDeviceManager({ tunName: TUN, netnsPath: `/run/netns/${NS}`, logger: pino({ level: 'debug' }, sink) });
    try {
      const r = await m.setIps('100.64.0.9', 'fd00:2021:1111::9');
      expect(r.ipv6).toBe(false);
      // handled where it happens, at debug, not as a warning
      expect(lines.join('')).toMatch(/"level":20.*no IPv6 here, running IPv4-only/);
      expect(lines.join('')).not.toContain('"level":40');
      await m.setRoutes([parseIpNetwork('100.64.0.0/11')], [parseIpNetwork('fd00:2021:1111::/107')]);
      expect(await ns.exec('ip', ['-o', 'addr', 'show', 'dev', TUN])).toContain('inet 100.64.0.9/32');
      expect(await ns.exec('ip', ['-4', 'route', 'show', 'table', String(POSTERN_ROUTE_TABLE)])).toContain('100.64.0.0/11');
    } finally {
      await m.close();
      await ns.exec('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0']);
    }
  });
});
