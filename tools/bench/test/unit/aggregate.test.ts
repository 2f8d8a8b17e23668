import { describe, expect, it } from 'vitest';
import { aggregateCase, buildResults, median, ratio, toMarkdown, toSvg } from '../../src/aggregate';
import { mainIsolate, parseTraceGc } from '../../src/proc';
import { logTime, parseIperf } from '../../src/system';

describe('median', () => {
  it('takes the middle of an odd count, the mean of the middle two of an even count, ignores NaN', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5])).toBe(5);
    expect(median([Number.NaN, 7, 1, 4])).toBe(4);
    expect(median([])).toBeNull();
    expect(median([Number.NaN])).toBeNull();
  });
});

describe('ratio', () => {
  it('is postern / reference, null when either is missing or the reference is 0', () => {
    expect(ratio(2, 0.5)).toBe(4);
    expect(ratio(null, 1)).toBeNull();
    expect(ratio(1, null)).toBeNull();
    expect(ratio(1, 0)).toBeNull();
  });
});

describe('results shape', () => {
  const results = buildResults(
    [
      { name: 'TCP upload', unit: 'Gbit/s', better: 'higher', posternPath: 'postern', referencePath: 'wireguard-go', runs: { veth: [6, 7, 5], 'wireguard-go': [0.7, 0.6, 0.8], postern: [2.1, 1.9, 2.0] }, chart: true },
      { name: 'relayed', unit: 'Gbit/s', better: 'higher', posternPath: 'postern-relay', referencePath: 'coturn', runs: {}, notes: { 'postern-relay': 'not available: no relay path' } },
    ],
    { mode: 'quick', loadavgStart: '1.00 2.00 3.00' },
    new Date('2026-11-25T22:00:00Z'),
  );

  it('has cases with name, unit, postern, reference, ratio and runs', () => {
    const json = JSON.parse(JSON.stringify(results)) as { cases: Record<string, unknown>[] };
    expect(json.cases).toHaveLength(2);
    const first = json.cases[0];
    expect(first).toMatchObject({ name: 'TCP upload', unit: 'Gbit/s', postern: 2, reference: 0.7, runs: { postern: [2.1, 1.9, 2.0] } });
    expect(first?.['ratio']).toBeCloseTo(2 / 0.7, 10);
    expect(json.cases[1]).toMatchObject({ name: 'relayed', postern: null, reference: null, ratio: null, notes: { 'postern-relay': 'not available: no relay path' } });
  });

  it('keeps every path median (ceiling included)', () => {
    expect(aggregateCase({ name: 'x', unit: 'u', better: 'lower', posternPath: 'postern', referencePath: 'veth', runs: { veth: [1, 3] } }).medians).toEqual({ veth: 2 });
  });

  it('renders a markdown table with n/a for unavailable paths, and an SVG with one group per chart case', () => {
    const md = toMarkdown(results);
    expect(md).toContain('| TCP upload | Gbit/s | 6.00 | 0.70 | 2.00 |');
    expect(md).toContain('2.86x');
    expect(md).toContain('| relayed | Gbit/s |  |  |  | n/a |');
    expect(md).toContain('loadavgStart: 1.00 2.00 3.00');
    const svg = toSvg(results);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect x=/g)?.length).toBe(3 + 6); // three bars + six legend swatches
  });

  it('prints Postern / ceiling (the minimal Node loop) per case where both were measured, keeping the reference ratio', () => {
    const r = buildResults(
      [
        { name: 'TCP upload', unit: 'Gbit/s', better: 'higher', posternPath: 'postern', referencePath: 'wireguard-go', runs: { 'wireguard-go': [0.3], postern: [1.2], ceiling: [2.4, 2.0, 1.6] }, chart: true },
        { name: 'UDP', unit: 'packets/s', better: 'higher', posternPath: 'postern', referencePath: 'wireguard-go', runs: { 'wireguard-go': [1], postern: [3] } },
      ],
      {},
      new Date('2026-11-26T15:00:00Z'),
    );
    const [tcp, udp] = r.cases;
    expect(tcp?.ratio).toBeCloseTo(4, 10);
    expect(tcp?.ceilingRatio).toBeCloseTo(0.6, 10);
    expect(tcp?.medians.ceiling).toBe(2);
    expect(udp?.ceilingRatio).toBeNull();
    const md = toMarkdown(r);
    expect(md).toContain('| TCP upload | Gbit/s |  | 0.30 | 1.20 |  |  | 2.00 | 4.00x (postern / wireguard-go, higher is better) | 0.60x |');
    expect(md).toContain('| UDP | packets/s |  | 1.00 | 3.00 |  |  |  | 3.00x (postern / wireguard-go, higher is better) |  |');
  });
});

describe('parsers', () => {
  it('reads TCP and UDP iperf3 JSON', () => {
    const tcp = parseIperf(JSON.stringify({ end: { sum_received: { bits_per_second: 1e9, bytes: 1.25e9 } } }), false);
    expect(tcp).toMatchObject({ bitsPerSecond: 1e9, bytes: 1.25e9 });
    const udp = parseIperf(JSON.stringify({ end: { sum: { seconds: 2, packets: 1000, lost_packets: 10, lost_percent: 1, bits_per_second: 5e6, bytes: 1.2e6 } } }), true);
    expect(udp.packetsPerSecond).toBe(495);
    expect(udp.lostPercent).toBe(1);
  });

  it('sums node --trace-gc pauses', () => {
    const log = [
      '[123:0x5d]      512 ms: Scavenge 4.1 (6.0) -> 3.2 (7.0) MB, 0.52 / 0.00 ms  (average mu = 1.000) allocation failure;',
      '{"level":30,"msg":"TUN configured"}',
      '[123:0x5d]     2210 ms: Mark-Compact 20.4 (25.0) -> 12.1 (24.0) MB, 3.25 / 0.10 ms  (+ 1.2 ms in 12 steps) finalize;',
    ].join('\n');
    expect(parseTraceGc(log)).toEqual({ count: 2, totalMs: 3.77, maxMs: 3.25 });
    expect(parseTraceGc(log, { fromMs: 1000, toMs: 3000 })).toEqual({ count: 1, totalMs: 3.25, maxMs: 3.25 });
    expect(parseTraceGc(log, { fromMs: 0, toMs: 600 })).toEqual({ count: 1, totalMs: 0.52, maxMs: 0.52 });
    expect(parseTraceGc(log, { fromMs: 3000, toMs: 9000 })).toEqual({ count: 0, totalMs: 0, maxMs: 0 });
    // several windows: a GC counts when it lies in any of them
    expect(parseTraceGc(log, [{ fromMs: 0, toMs: 600 }, { fromMs: 1000, toMs: 3000 }])).toEqual({ count: 2, totalMs: 3.77, maxMs: 3.25 });
    expect(parseTraceGc(log, [{ fromMs: 0, toMs: 600 }, { fromMs: 3000, toMs: 9000 }])).toEqual({ count: 1, totalMs: 0.52, maxMs: 0.52 });
    expect(parseTraceGc(log, [])).toEqual({ count: 0, totalMs: 0, maxMs: 0 });
  });

  it('tells the main isolate from worker isolates', () => {
    const log = [
      '[7:0x4a]      300 ms: Scavenge 4.1 (6.0) -> 3.2 (7.0) MB, 1.50 / 0.00 ms  allocation failure;',
      '[7:0x7f01]     40 ms: Scavenge 1.1 (2.0) -> 1.0 (2.0) MB, 9.00 / 0.00 ms  allocation failure;',
      '[7:0x4a]      900 ms: Scavenge 4.1 (6.0) -> 3.2 (7.0) MB, 2.50 / 0.00 ms  task;',
    ].join('\n');
    expect(mainIsolate(log)).toBe('0x4a');
    expect(parseTraceGc(log, undefined, '0x4a')).toEqual({ count: 2, totalMs: 4, maxMs: 2.5 });
    expect(parseTraceGc(log, undefined, '0x7f01')).toEqual({ count: 1, totalMs: 9, maxMs: 9 });
    expect(mainIsolate('no gc here')).toBeUndefined();
  });

  it('follows a process that re-executed itself to its new main isolate (same pid, clock from 0)', () => {
    const gc = (isolate: string, ms: number): string => `[4292:${isolate}]   ${String(ms)} ms: Scavenge 5.5 (5.9) -> 5.2 (6.9) MB, 1.00 / 0.01 ms  allocation failure;`;
    // the first image loads the bundle and re-executes; the new one starts its workers (own clocks) and runs
    const reexec = [gc('0x20e3', 282), gc('0x20e3', 518), gc('0xe36f', 185), gc('0x7fa8', 90), gc('0xe36f', 40_000), gc('0x7fa8', 39_500), gc('0xe36f', 41_000)];
    expect(mainIsolate(reexec.join('\n'))).toBe('0xe36f');
    // a worker whose clock is behind main's while main goes on collecting is not the main isolate
    expect(mainIsolate([gc('0x4a', 2000), gc('0x7f01', 300), gc('0x4a', 2600)].join('\n'))).toBe('0x4a');
    // a worker collecting late (its own clock past 3 s) after main's last collection is not taken for an exec
    expect(mainIsolate([gc('0x4a', 9000), gc('0x7f01', 4000)].join('\n'))).toBe('0x4a');
  });
});

describe('logTime', () => {
  it('finds the pino time of the first line with that msg', () => {
    const log = ['[1:0x1] 5 ms: Scavenge 1 (2) -> 1 (2) MB, 0.1 / 0 ms', '{"time":100,"msg":"TUN configured"}', '{"time":250,"msg":"connected to gateway"}', '{"time":900,"msg":"connected to gateway"}'].join('\n');
    expect(logTime(log, 'connected to gateway')).toBe(250);
    expect(logTime(log, 'stopped')).toBeNull();
  });
});
