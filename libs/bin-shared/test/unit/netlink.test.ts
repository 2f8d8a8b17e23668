import { describe, expect, it } from 'vitest';
import { buildMessage, errorErrno, ifaddrmsg, ipBytes, ipFromBytes, parseMessages, parseRoute, rtmsg, u32Attr, attr } from '../../src/netlink/codec';
import * as C from '../../src/netlink/constants';
import { NetworkModel } from '../../src/netlink/model';
import { normaliseNetwork, parseIpNetwork } from '../../src/index';

function errorMessage(seq: number, errno: number): Buffer {
  const body = Buffer.alloc(20);
  body.writeInt32LE(-errno, 0); // the kernel sends a negative errno
  return buildMessage(C.NLMSG_ERROR, 0, seq, body);
}

function linkMsg(type: number, index: number, name: string, flags: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  return buildMessage(type, 0, 0, b, [attr(C.IFLA_IFNAME, Buffer.from(`${name}\0`))]);
}

function addrMsg(type: number, index: number, address: string, prefix: number): Buffer {
  const fam = address.includes(':') ? C.AF_INET6 : C.AF_INET;
  return buildMessage(type, 0, 0, ifaddrmsg(fam, prefix, 0, 0, index), [attr(C.IFA_ADDRESS, ipBytes(address))]);
}

function routeMsg(type: number, dst: string, len: number, oif: number, table = C.RT_TABLE_MAIN): Buffer {
  const fam = dst.includes(':') ? C.AF_INET6 : C.AF_INET;
  return buildMessage(type, 0, 0, rtmsg({ family: fam, dstLen: len, table, protocol: 4, scope: 253, type: 1 }), [
    u32Attr(C.RTA_TABLE, table),
    attr(C.RTA_DST, ipBytes(dst)),
    u32Attr(C.RTA_OIF, oif),
  ]);
}

describe('netlink codec', () => {
  it('builds headers and 4-byte aligned attributes', () => {
    const m = buildMessage(C.RTM_NEWROUTE, C.NLM_F_REQUEST | C.NLM_F_ACK, 7, Buffer.alloc(12), [attr(C.RTA_DST, Buffer.from([10, 0, 0]))]);
    expect(m.length).toBe(16 + 12 + 8);
    expect(m.readUInt32LE(0)).toBe(m.length);
    expect(m.readUInt16LE(4)).toBe(C.RTM_NEWROUTE);
    expect(m.readUInt16LE(6)).toBe(5);
    expect(m.readUInt32LE(8)).toBe(7);
    expect(m.readUInt16LE(28)).toBe(7); // rta_len counts the unpadded payload
  });

  it('reads negative netlink error numbers with the right sign', () => {
    const [eexist] = parseMessages(errorMessage(1, C.EEXIST));
    const [ack] = parseMessages(errorMessage(2, 0));
    expect(eexist && errorErrno(eexist)).toBe(17);
    expect(ack && errorErrno(ack)).toBe(0);
  });

  it('splits a datagram holding several messages and stops at a truncated one', () => {
    const two = Buffer.concat([errorMessage(1, 2), errorMessage(2, 3)]);
    expect(parseMessages(two).map((m) => m.seq)).toEqual([1, 2]);
    expect(parseMessages(two.subarray(0, two.length - 4)).map((m) => m.seq)).toEqual([1]);
  });

  it('round-trips IPv4 and IPv6 addresses (RFC 5952 text)', () => {
    for (const a of ['198.18.12.1', '::', '::1', 'fd00:2021:1111::7', 'fd00:2021:1111:8000:100:100:111:0', '2001:db8::1:0:0:1', '::ffff:198.18.12.1']) {
      const text = ipFromBytes(ipBytes(a));
      expect(ipBytes(text)).toEqual(ipBytes(a));
    }
    expect(ipFromBytes(ipBytes('fd00:2021:1111:0:0:0:0:7'))).toBe('fd00:2021:1111::7');
  });

  it('parses routes with tables above 255 from RTA_TABLE', () => {
    const [m] = parseMessages(routeMsg(C.RTM_NEWROUTE, '100.64.0.0', 11, 5, 0x2021_7073));
    expect(m && parseRoute(m)).toMatchObject({ dst: '100.64.0.0', dstLen: 11, table: 0x2021_7073, oif: 5 });
  });

  it('normalises networks (host bits cleared) and rejects bad ones', () => {
    expect(parseIpNetwork('10.1.2.3/8')).toEqual({ address: '10.0.0.0', prefix: 8 });
    expect(parseIpNetwork('fd00:2021:1111::7/107')).toEqual({ address: 'fd00:2021:1111::', prefix: 107 });
    expect(parseIpNetwork('100.64.0.7')).toEqual({ address: '100.64.0.7', prefix: 32 });
    expect(normaliseNetwork({ address: '0.0.0.0', prefix: 0 })).toEqual({ address: '0.0.0.0', prefix: 0 });
    expect(() => parseIpNetwork('10.0.0.0/33')).toThrow();
    expect(() => parseIpNetwork('nope/8')).toThrow();
  });
});

describe('NetworkModel', () => {
  it('counts only real changes: duplicates collapse, stats-only link updates do not count', () => {
    const m = new NetworkModel({ ignoreInterface: 'tun-postern' });
    expect(m.applyDatagram(linkMsg(C.RTM_NEWLINK, 2, 'eth0', C.IFF_UP | C.IFF_RUNNING))).toBe(true);
    expect(m.applyDatagram(linkMsg(C.RTM_NEWLINK, 2, 'eth0', C.IFF_UP | C.IFF_RUNNING | 0x1000 /* IFF_MULTICAST */))).toBe(false);
    expect(m.applyDatagram(addrMsg(C.RTM_NEWADDR, 2, '198.18.12.5', 24))).toBe(true);
    expect(m.applyDatagram(addrMsg(C.RTM_NEWADDR, 2, '198.18.12.5', 24))).toBe(false);
    expect(m.applyDatagram(routeMsg(C.RTM_NEWROUTE, '198.18.12.0', 24, 2))).toBe(true);
    expect(m.applyDatagram(routeMsg(C.RTM_NEWROUTE, '198.18.12.0', 24, 2))).toBe(false);
    expect(m.applyDatagram(linkMsg(C.RTM_NEWLINK, 2, 'eth0', C.IFF_UP))).toBe(true); // carrier lost
    expect(m.applyDatagram(addrMsg(C.RTM_DELADDR, 2, '198.18.12.5', 24))).toBe(true);
    expect(m.applyDatagram(addrMsg(C.RTM_DELADDR, 2, '198.18.12.5', 24))).toBe(false);
  });

  it('ignores our TUN (by name, then by index) and Postern\u2019s own table', () => {
    const m = new NetworkModel({ ignoreInterface: 'tun-postern', ignoreTable: 0x2021_7073 });
    expect(m.applyDatagram(linkMsg(C.RTM_NEWLINK, 9, 'tun-postern', C.IFF_UP))).toBe(false);
    expect(m.applyDatagram(addrMsg(C.RTM_NEWADDR, 9, '100.64.0.1', 32))).toBe(false);
    expect(m.applyDatagram(routeMsg(C.RTM_NEWROUTE, '100.96.0.0', 11, 9))).toBe(false);
    expect(m.applyDatagram(routeMsg(C.RTM_NEWROUTE, '10.0.0.0', 8, 2, 0x2021_7073))).toBe(false);
    expect(m.applyDatagram(linkMsg(C.RTM_DELLINK, 9, 'tun-postern', 0))).toBe(false);
    const many = Buffer.concat([addrMsg(C.RTM_NEWADDR, 3, 'fd00::5', 64), addrMsg(C.RTM_NEWADDR, 3, 'fd00::5', 64)]);
    expect(m.applyDatagram(many)).toBe(true);
  });
});
