// The shared `node --trace-gc` line parser: real V8 output, the variants V8 prints, chunked input, garbage.
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mainIsolateOf, MAX_TRACE_GC_LINE, parseTraceGcLine, parseTraceGcText, TraceGcLineReader, type TraceGcEvent } from '../../src/index';

// lines as node 20 prints them (main isolate 0x2907c080, a worker 0x7f2618000f00), with a log line between
const MAIN = '[24454:0x2907c080]';
const sample = [
  `${MAIN}      132 ms: Scavenge 3.8 (4.0) -> 3.4 (5.0) MB, 5.03 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; `,
  '[24454:0x7f2618000f00]      146 ms: Mark-Compact 3.2 (3.2) -> 2.8 (4.2) MB, 6.44 / 0.00 ms  (average mu = 1.000, current mu = 1.000) testing; GC in old space requested',
  '{"level":30,"time":1764133000000,"msg":"client started"}',
  `${MAIN}     9163 ms: Mark-Compact 13.4 (17.7) -> 13.1 (29.2) MB, 42.98 / 0.00 ms  (+ 2.1 ms in 3 steps since start of marking, biggest step 1.0 ms) finalize incremental marking via stack guard;`,
  `${MAIN}    61003 ms: Mark-Compact (reduce) 11.0 (14.0) -> 9.8 (12.0) MB, 5.00 / 0.00 ms  (average mu = 0.95) low memory notification;`,
  `${MAIN}    61100 ms: Minor Mark-Compact 4.0 (6.0) -> 3.0 (6.0) MB, 0.40 / 0.00 ms  allocation failure;`,
].join('\n');

describe('parseTraceGcLine', () => {
  it('reads tag, time stamp, kind, heap before/after and the pause', () => {
    expect(parseTraceGcLine(`${MAIN}     8075 ms: Mark-Compact 12.1 (14.0) -> 10.2 (13.5) MB, 3.10 / 0.00 ms  (+ 4.0 ms) finalize;`)).toEqual({
      isolate: '0x2907c080',
      atMs: 8075,
      kind: 'Mark-Compact',
      full: true,
      beforeMiB: 12.1,
      afterMiB: 10.2,
      pauseMs: 3.1,
    });
  });

  it('tells every kind apart and marks only the full ones', () => {
    const kinds = parseTraceGcText(sample).map((e) => [e.kind, e.full]);
    expect(kinds).toEqual([
      ['Scavenge', false],
      ['Mark-Compact', true],
      ['Mark-Compact', true],
      ['Mark-Compact (reduce)', true],
      ['Minor Mark-Compact', false],
    ]);
    expect(parseTraceGcLine('[1:0xa] 5 ms: Mark-sweep 2.0 (3.0) -> 1.0 (3.0) MB, 7.5 / 0.0 ms')?.full).toBe(true);
  });

  it('takes lines without tag or time stamp, and fractional time stamps', () => {
    expect(parseTraceGcLine('Scavenge 4.1 (6.0) -> 3.2 (7.0) MB, 0.52 / 0.00 ms')).toMatchObject({ isolate: undefined, atMs: undefined, pauseMs: 0.52 });
    expect(parseTraceGcLine('[9:0xbeef]  12.5 ms: Scavenge 4.1 (6.0) -> 3.2 (7.0) MB, 0.52 / 0.00 ms')).toMatchObject({ isolate: '0xbeef', atMs: 12.5 });
  });

  it('refuses lines that are not whole GC lines', () => {
    for (const line of [
      '',
      '{"level":30,"msg":"TUN configured"}',
      `${MAIN} 5 ms: Mark-Compact 1.0 (`,
      `${MAIN} 5 ms: Mark-Compact 12.1 (14.0) -> 10.2 (13.5) MB`,
      `${MAIN} 5 ms: Mark-Compact 12.1 (14.0) -> 10.2 (13.5) MB, x / 0.00 ms`,
      `${MAIN} 5 ms: Compact 12.1 (14.0) -> 10.2 (13.5) MB, 1.0 / 0.00 ms`,
      `${MAIN} x ms: Mark-Compact`,
      `${' '.repeat(MAX_TRACE_GC_LINE)}Scavenge 4.1 (6.0) -> 3.2 (7.0) MB, 0.52 / 0.00 ms`,
    ]) {
      expect(parseTraceGcLine(line), line.slice(0, 80)).toBeUndefined();
    }
  });

  it('parses what this node really prints (main isolate and a worker)', () => {
    const script = "const { Worker } = require('node:worker_threads'); gc(); new Worker('globalThis.gc?.(); let a = []; for (let i = 0; i < 2e5; i++) a.push({ i });', { eval: true }).on('exit', () => gc());";
    const r = spawnSync(process.execPath, ['--trace-gc', '--expose-gc', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    const events = parseTraceGcText(r.stdout);
    const gcLines = r.stdout.split('\n').filter((l) => / ms: (Scavenge|Mark|Minor)/.test(l));
    expect(events).toHaveLength(gcLines.length);
    expect(events.length).toBeGreaterThanOrEqual(2);
    const main = events[0]?.isolate;
    expect(main).toMatch(/^0x[0-9a-f]+$/);
    expect(events.filter((e) => e.isolate === main && e.full).length).toBeGreaterThanOrEqual(2); // the two gc() calls
    for (const e of events) {
      expect(e.atMs).toBeGreaterThanOrEqual(0);
      expect(e.pauseMs).toBeGreaterThanOrEqual(0);
      expect(e.afterMiB).toBeGreaterThan(0);
    }
  });

  it('round-trips generated lines', () => {
    const dec = fc.integer({ min: 0, max: 100_000 }).map((n) => n / 10);
    fc.assert(
      fc.property(
        fc.constantFrom('Scavenge', 'Minor Mark-Compact', 'Mark-Compact', 'Mark-Compact (reduce)', 'Mark-sweep'),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.nat(10_000_000),
        dec,
        dec,
        dec,
        fc.string({ maxLength: 40 }).filter((s) => !s.includes('\n')),
        (kind, iso, at, before, after, pause, tail) => {
          const isolate = `0x${iso.toString(16)}`;
          const line = `[77:${isolate}]   ${String(at)} ms: ${kind} ${before.toFixed(1)} (9.9) -> ${after.toFixed(1)} (9.9) MB, ${pause.toFixed(2)} / 0.00 ms  ${tail}`;
          const e = parseTraceGcLine(line);
          expect(e).toEqual({ isolate, atMs: at, kind, full: kind !== 'Scavenge' && kind !== 'Minor Mark-Compact', beforeMiB: before, afterMiB: after, pauseMs: pause });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('garbage and mangled GC lines never throw and never yield non-finite numbers', () => {
    const valid = `${MAIN}     8075 ms: Mark-Compact 12.1 (14.0) -> 10.2 (13.5) MB, 3.10 / 0.00 ms  finalize;`;
    const mangled = fc
      .tuple(fc.nat(valid.length), fc.nat(valid.length), fc.string({ maxLength: 8 }))
      .map(([a, b, ins]) => valid.slice(0, Math.min(a, b)) + ins + valid.slice(Math.max(a, b)));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), mangled), (line) => {
        const e = parseTraceGcLine(line);
        if (e === undefined) return;
        for (const n of [e.beforeMiB, e.afterMiB, e.pauseMs, e.atMs ?? 0]) expect(Number.isFinite(n)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('mainIsolateOf', () => {
  const gc = (isolate: string, ms: number): string => `[4292:${isolate}]   ${String(ms)} ms: Scavenge 5.5 (5.9) -> 5.2 (6.9) MB, 1.00 / 0.01 ms  allocation failure;`;
  const main = (lines: readonly string[]): string | undefined => mainIsolateOf(parseTraceGcText(lines.join('\n')));

  it('is the first isolate that collects; a worker (own clock) does not take over', () => {
    expect(main([gc('0x4a', 300), gc('0x7f01', 40), gc('0x4a', 900)])).toBe('0x4a');
    expect(main([gc('0x4a', 9000), gc('0x7f01', 4000)])).toBe('0x4a');
    expect(main(['no gc here'])).toBeUndefined();
  });

  it('follows a process that re-executed itself to the new image (clock from 0, the old main never collects again)', () => {
    expect(main([gc('0x4a', 800), gc('0x4a', 4000), gc('0xe36f', 60), gc('0xe36f', 5000)])).toBe('0xe36f');
    // a new isolate that starts late on its own clock is a worker, not a new image
    expect(main([gc('0x4a', 800), gc('0x4a', 4000), gc('0xe36f', 3500)])).toBe('0x4a');
    // the old image re-executed at once (its last collection at 308 ms), the new image's first at 172 ms
    expect(main([gc('0x4a', 172), gc('0x4a', 308), gc('0xe36f', 172), gc('0xe36f', 900), gc('0x7f01', 50), gc('0xe36f', 9000)])).toBe('0xe36f');
    // a worker that starts after the main's last collection, on its own clock, with a long-lived main before it
    expect(main([gc('0x4a', 800), gc('0x4a', 4000), gc('0x7f01', 2500)])).toBe('0x4a');
  });
});

describe('TraceGcLineReader', () => {
  const collect = (r: TraceGcLineReader, chunks: readonly string[]): TraceGcEvent[] => chunks.flatMap((c) => r.push(c));

  it('gives the same lines whatever the chunking, each once its line has ended', () => {
    const whole = parseTraceGcText(sample);
    expect(whole).toHaveLength(5);
    for (const size of [1, 7, 64, sample.length + 1]) {
      const r = new TraceGcLineReader();
      const chunks: string[] = [];
      for (let i = 0; i < sample.length; i += size) chunks.push(sample.slice(i, i + size));
      const got = collect(r, chunks);
      expect(got).toEqual(whole.slice(0, 4)); // the last line has no newline yet
      expect(r.push('\n')).toEqual(whole.slice(4));
    }
  });

  it('drops a line that grows past the limit, up to its end, and carries on after it', () => {
    const r = new TraceGcLineReader();
    const gcLine = 'Scavenge 4.1 (6.0) -> 3.2 (7.0) MB, 0.52 / 0.00 ms';
    expect(collect(r, ['x'.repeat(MAX_TRACE_GC_LINE + 1), 'y'.repeat(100), gcLine, '\n'])).toEqual([]);
    expect(r.push(`${gcLine}\n`)).toHaveLength(1);
  });

  it('random chunks of garbage and GC fragments never throw and yield only whole lines', () => {
    const pieces = fc.oneof(fc.string(), fc.constantFrom(`${MAIN} 5 ms: Mark-Compact 1.0 (`, `${MAIN} x ms: Mark-Compact`, '\n', 'x'.repeat(5000)));
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 30 }), (chunks) => {
        const got = collect(new TraceGcLineReader(), chunks);
        // everything the reader yields is a line the one-shot parser also finds
        expect(got.length).toBeLessThanOrEqual(parseTraceGcText(chunks.join('')).length);
      }),
      { numRuns: 2000 },
    );
  });
});
