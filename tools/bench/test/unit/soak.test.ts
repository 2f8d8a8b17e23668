import { describe, expect, it } from 'vitest';
import { parsePing, rttStats } from '../../src/soak';

const OUTPUT = `PING 198.19.2.10 (198.19.2.10) 56(84) bytes of data.
64 bytes from 198.19.2.10: icmp_seq=1 ttl=62 time=0.412 ms
64 bytes from 198.19.2.10: icmp_seq=2 ttl=62 time=1.25 ms
64 bytes from 198.19.2.10: icmp_seq=4 ttl=62 time=12 ms
64 bytes from 198.19.2.10: icmp_seq=5 ttl=62 time<1 ms

--- 198.19.2.10 ping statistics ---
5 packets transmitted, 4 received, 20% packet loss, time 402ms
rtt min/avg/max/mdev = 0.412/4.554/12.000/5.300 ms
`;

describe('parsePing', () => {
  it('reads every reply time and the count sent from the summary', () => {
    expect(parsePing(OUTPUT)).toEqual({ rtts: [0.412, 1.25, 12, 1], sent: 5 });
  });

  it('takes nothing from malformed or foreign lines, and counts the replies when the summary is missing', () => {
    const junk = 'time=1 ms\nfrom x: time=abc ms\n time=-3 ms\n time=1e3 ms\n\u0000 time=\n64 bytes: icmp_seq=9 time=2.5 ms\n';
    expect(parsePing(junk)).toEqual({ rtts: [2.5], sent: 1 });
    expect(parsePing('')).toEqual({ rtts: [], sent: 0 });
    expect(parsePing('ping: connect: Network is unreachable\n')).toEqual({ rtts: [], sent: 0 });
  });
});

describe('rttStats', () => {
  it('median, 99th percentile by nearest rank, maximum, and how many came back', () => {
    const rtts = Array.from({ length: 200 }, (_, i) => 200 - i); // 1..200, unsorted
    expect(rttStats(rtts, 210)).toEqual({ sent: 210, received: 200, medianMs: 100, p99Ms: 198, maxMs: 200 });
    expect(rttStats([3, 1, 2], 3)).toMatchObject({ medianMs: 2, p99Ms: 3, maxMs: 3 });
  });

  it('gives NaN, not a number it made up, when nothing came back', () => {
    const s = rttStats([], 30);
    expect(s.received).toBe(0);
    expect(Number.isNaN(s.medianMs) && Number.isNaN(s.p99Ms) && Number.isNaN(s.maxMs)).toBe(true);
  });
});
