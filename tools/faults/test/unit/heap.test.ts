import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FullGcCollector } from '../../src/index';

const MAIN = '[4242:0x5581c0e0]';
const WORKER = '[4242:0x7f00aa001000]';
const sample = [
  `${MAIN}       31 ms: Scavenge 3.9 (4.2) -> 3.6 (5.2) MB, 0.61 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;`,
  '{"level":30,"time":1764133000000,"msg":"gateway started"}',
  `${WORKER}       12 ms: Mark-Compact 2.0 (3.0) -> 1.5 (3.0) MB, 1.20 / 0.00 ms  (average mu = 0.9) finalize incremental marking;`,
  `${MAIN}     8075 ms: Mark-Compact 12.1 (14.0) -> 10.2 (13.5) MB, 3.10 / 0.00 ms  (+ 4.0 ms in 12 steps since start of marking) finalize incremental marking via task;`,
  `${MAIN}    60075 ms: Mark-Compact (reduce) 11.0 (14.0) -> 9.8 (12.0) MB, 5.00 / 0.00 ms  (average mu = 0.95) low memory notification;`,
].join('\n');

describe('full-GC heap floor from --trace-gc output', () => {
  it('takes the main isolate (the first that collects) and only full GCs, whatever the chunking', () => {
    for (const size of [1, 7, 64, sample.length + 1]) {
      const c = new FullGcCollector();
      for (let i = 0; i < sample.length; i += size) c.push(sample.slice(i, i + size));
      c.push('\n');
      expect(c.mainIsolate()).toEqual([
        { isolate: '0x5581c0e0', atMs: 8075, afterMiB: 10.2 },
        { isolate: '0x5581c0e0', atMs: 60075, afterMiB: 9.8 },
      ]);
      expect(c.everyIsolate()).toHaveLength(3);
    }
  });

  it('follows a process that re-executed itself to the new image\'s isolate', () => {
    const c = new FullGcCollector();
    c.push(
      [
        `${MAIN}       40 ms: Scavenge 3.9 (4.2) -> 3.6 (5.2) MB, 0.61 / 0.00 ms  allocation failure;`,
        `${MAIN}      900 ms: Mark-Compact 5.0 (6.0) -> 4.0 (6.0) MB, 1.0 / 0.0 ms  finalize;`,
        '[4242:0x1b2c]       35 ms: Scavenge 3.9 (4.2) -> 3.6 (5.2) MB, 0.61 / 0.00 ms  allocation failure;',
        '[4242:0x1b2c]     7000 ms: Mark-Compact 9.0 (10.0) -> 7.5 (10.0) MB, 2.0 / 0.0 ms  finalize;',
        '',
      ].join('\n'),
    );
    expect(c.mainIsolate()).toEqual([{ isolate: '0x1b2c', atMs: 7000, afterMiB: 7.5 }]);
    expect(c.everyIsolate()).toHaveLength(2);
  });

  it('ignores a line that is still incomplete', () => {
    const c = new FullGcCollector();
    c.push(`${MAIN}  10 ms: Mark-Compact 5.0 (6.0) -> 4.0 (6.0) MB, 1.0 / 0.0 ms`);
    expect(c.mainIsolate()).toEqual([]);
    c.push('\n');
    expect(c.mainIsolate()).toHaveLength(1);
  });

  it('garbage, truncated GC lines and endless lines never throw and never invent a GC', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.constantFrom(`${MAIN} 5 ms: Mark-Compact 1.0 (`, `${MAIN} x ms: Mark-Compact`, 'x'.repeat(5000))), { maxLength: 30 }), (chunks) => {
        const c = new FullGcCollector();
        for (const ch of chunks) c.push(ch);
        for (const g of c.everyIsolate()) {
          expect(Number.isFinite(g.afterMiB)).toBe(true);
          expect(Number.isFinite(g.atMs)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
