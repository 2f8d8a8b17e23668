import { describe, expect, it } from 'vitest';
import { delta, formatLoss, formatThreadCpu, isLossCounter, parseNetDev, parseSnmp, parseSoftnet, parseTaskTicks, socketBuffers } from '../../src/netstat';
import { searchLossFree, type UdpProbeResult } from '../../src/udp-search';

const SNMP = `Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 1234
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 100 2 7 90 7 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
`;
const DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  100 1 0 0 0 0 0 0  100 1 0 0 0 0 0 0
tun-postern: 5000 4 0 0 0 0 0 0 6000 5 0 22586 0 0 0 0
  wan0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16
`;

describe('kernel counters', () => {
  it('reads the Udp MIB line pair, not UdpLite or Ip', () => {
    const u = parseSnmp(SNMP);
    expect(u['Udp.RcvbufErrors']).toBe(7);
    expect(u['Udp.InDatagrams']).toBe(100);
    expect(Object.keys(u).every((k) => k.startsWith('Udp.'))).toBe(true);
    expect(Object.keys(u)).toHaveLength(9);
  });

  it('reads per-device counters after the header only (an Ip: line before it is no device), skipping lo', () => {
    const d = parseNetDev(SNMP + DEV);
    expect(d['tun-postern.tx_drop']).toBe(22586);
    expect(d['wan0.rx_drop']).toBe(4);
    expect(d['wan0.tx_compressed']).toBe(16);
    expect(Object.keys(d).some((k) => k.startsWith('lo.') || k.startsWith('Ip.'))).toBe(false);
  });

  it('sums softnet drops and squeezes (hex) over CPUs', () => {
    expect(parseSoftnet('0000a 00000010 00000002 0\n0000b 00000001 00000000 0\n')).toEqual({ 'softnet.dropped': 17, 'softnet.time_squeeze': 2 });
  });

  it('reports only loss counters that grew, per namespace', () => {
    const before = { ...parseSnmp(SNMP), ...parseNetDev(DEV) };
    const after = { ...before, 'Udp.RcvbufErrors': 57, 'Udp.InDatagrams': 900, 'tun-postern.tx_drop': 22590 };
    const d = delta(before, after);
    expect(d).toEqual({ 'Udp.RcvbufErrors': 50, 'Udp.InDatagrams': 800, 'tun-postern.tx_drop': 4 });
    expect(formatLoss({ 'pbn-gw': d, 'pbn-srv': {} })).toBe('pbn-gw: Udp.RcvbufErrors +50, tun-postern.tx_drop +4');
    expect(isLossCounter('Udp.InDatagrams')).toBe(false);
    expect(isLossCounter('wan0.rx_drop')).toBe(true);
  });

  it('per-thread CPU: the main thread first, then busy threads busiest first', () => {
    expect(parseTaskTicks('42 (node worker) S 1 2 3 4 5 6 7 8 9 10 30 12 0')).toBe(42);
    const before = new Map([[10, 0], [11, 0], [12, 0]]);
    const after = new Map([[10, 100], [11, 300], [12, 1]]);
    expect(formatThreadCpu(10, before, after, 2, 100)).toBe('main 50%, 150%');
  });
});

describe('socketBuffers', () => {
  it('reads the granted receive/send buffer of each UDP socket from ss -H -uamn', () => {
    const ss = 'UNCONN 0      0      127.0.0.1:5555 0.0.0.0:*\n\t skmem:(r0,rb212992,t0,tb212992,f0,w0,o0,bl0,d0)\nUNCONN 0      0              *:5556       *:*\n\t skmem:(r0,rb33554432,t0,tb212992,f0,w0,o0,bl0,d0)\n';
    expect(socketBuffers(ss)).toBe('127.0.0.1:5555 212992/212992, *:5556 33554432/212992');
    expect(socketBuffers('')).toBe('');
  });
});

describe('searchLossFree', () => {
  /** A path that drops above `capacity` packets/s offered. */
  const path = (capacity: number) => {
    const probes: number[] = [];
    const probe = (pps: number): UdpProbeResult => {
      probes.push(Math.round(pps));
      return pps <= capacity ? { packetsPerSecond: pps, lostPercent: 0 } : { packetsPerSecond: capacity, lostPercent: ((pps - capacity) / pps) * 100 };
    };
    return { probe, probes };
  };

  it('a path that loses inside the bracket is bisected exactly as before (no growth probe)', () => {
    const p = path(17_000);
    const best = searchLossFree({ packetsPerSecond: 22_000, lostPercent: 80 }, p.probe, { steps: 6 });
    expect(p.probes).toHaveLength(6);
    expect(p.probes[0]).toBe(12_100);
    expect(Math.max(...p.probes)).toBeLessThanOrEqual(24_200);
    expect(best).toBeGreaterThan(16_500);
    expect(best).toBeLessThanOrEqual(17_000);
  });

  it('a path loss-free above 1.1x the unlimited probe is followed past the bracket', () => {
    const p = path(9_000);
    const best = searchLossFree({ packetsPerSecond: 6_000, lostPercent: 57 }, p.probe, { steps: 6 });
    expect(Math.max(...p.probes)).toBeGreaterThan(6_600);
    expect(best).toBeGreaterThan(8_000);
    expect(best).toBeLessThanOrEqual(9_000);
  });

  it('growSteps 0 is the plain bisection (capped at 1.1x the unlimited probe)', () => {
    const p = path(9_000);
    expect(searchLossFree({ packetsPerSecond: 6_000, lostPercent: 57 }, p.probe, { steps: 6, growSteps: 0 })).toBeLessThanOrEqual(6_600);
    expect(p.probes).toHaveLength(6);
  });

  it('nothing loss-free: 0', () => {
    const p = path(0);
    expect(searchLossFree({ packetsPerSecond: 5_000, lostPercent: 90 }, p.probe, { steps: 4 })).toBe(0);
  });
});
