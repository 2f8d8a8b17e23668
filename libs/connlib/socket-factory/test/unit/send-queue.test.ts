import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BufferPool } from '@postern/bufferpool';
import { parseSocketAddr } from '../../src/index';
import { GsoQueue, type Batch } from '../../src/send-queue';

function setup(opts: { maxSegments?: number; maxBytes?: number; busyAfter?: number; buffers?: number } = {}) {
  const pool = new BufferPool({ bufferSize: 4096, slabBuffers: 4, maxBuffers: opts.buffers ?? 64 });
  const sent: { dst: string; segSize: number; datagrams: Uint8Array[] }[] = [];
  let scheduled = 0;
  let busyAfter = opts.busyAfter ?? Infinity;
  const q = new GsoQueue({
    pool,
    maxSegments: opts.maxSegments ?? 8,
    maxBytes: opts.maxBytes ?? 4096,
    schedule: () => {
      scheduled++;
    },
    transmit: (batches: readonly Batch[]) => {
      let taken = 0;
      for (const b of batches) {
        if (busyAfter <= 0) break;
        busyAfter--;
        const datagrams: Uint8Array[] = [];
        for (let off = 0; off < b.len; off += b.segSize) datagrams.push(b.buf.slice(off, Math.min(off + b.segSize, b.len)));
        sent.push({ dst: b.dst.key, segSize: b.segSize, datagrams });
        pool.release(b.buf);
        taken++;
      }
      return taken;
    },
  });
  return { q, pool, sent, scheduled: () => scheduled, unblock: () => (busyAfter = Infinity) };
}

const A = parseSocketAddr('198.18.9.1:51820');
const B = parseSocketAddr('[fd00::1]:51820');

function dgram(tag: number, len: number): Uint8Array {
  const d = new Uint8Array(len);
  d.fill(tag & 0xff);
  return d;
}

describe('GsoQueue', () => {
  it('appends same-size datagrams to one destination into one batch, in place', () => {
    const { q, sent, scheduled } = setup();
    for (let i = 0; i < 5; i++) {
      const view = q.reserve(A, 100);
      view.fill(i);
      q.commit(100);
    }
    expect(q.pending).toBe(5);
    expect(scheduled()).toBe(1); // one flush per tick, however many appends
    expect(q.flush()).toBe(5);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.segSize).toBe(100);
    expect(sent[0]?.datagrams.map((d) => d[0])).toEqual([0, 1, 2, 3, 4]);
  });

  it('closes a batch with a shorter last segment and starts a new one for a larger datagram', () => {
    const { q, sent } = setup();
    q.push(A, dgram(1, 100));
    q.push(A, dgram(2, 100));
    q.push(A, dgram(3, 60)); // shorter: last segment of this batch
    q.push(A, dgram(4, 100)); // new batch
    q.push(A, dgram(5, 120)); // larger than 100: moved to a batch of its own
    q.flush();
    expect(sent.map((s) => [s.segSize, s.datagrams.map((d) => d[0])])).toEqual([
      [100, [1, 2, 3]],
      [100, [4]],
      [120, [5]],
    ]);
  });

  it('keeps separate batches per destination and respects the segment and byte limits', () => {
    const { q, sent } = setup({ maxSegments: 3, maxBytes: 1000 });
    for (let i = 0; i < 7; i++) {
      q.push(A, dgram(i, 300));
      q.push(B, dgram(100 + i, 50));
    }
    q.flush();
    for (const s of sent) {
      expect(s.datagrams.length).toBeLessThanOrEqual(3);
      expect(s.datagrams.reduce((n, d) => n + d.length, 0)).toBeLessThanOrEqual(1000);
    }
    expect(sent.filter((s) => s.dst === A.key).flatMap((s) => s.datagrams.map((d) => d[0]))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(sent.filter((s) => s.dst === B.key).flatMap((s) => s.datagrams.map((d) => d[0]))).toEqual([100, 101, 102, 103, 104, 105, 106]);
  });

  it('keeps what the socket could not take (EAGAIN) and reschedules it, in order', () => {
    const { q, sent, scheduled, unblock } = setup({ maxSegments: 2, busyAfter: 1 });
    for (let i = 0; i < 6; i++) q.push(A, dgram(i, 10));
    expect(q.flush()).toBe(2);
    expect(q.pending).toBe(4);
    expect(scheduled()).toBe(2);
    unblock();
    expect(q.flush()).toBe(4);
    expect(sent.flatMap((s) => s.datagrams.map((d) => d[0]))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('schedules no flush of its own when the owner flushes, but still retries what the socket refused', () => {
    const { q, sent, scheduled, unblock } = setup({ maxSegments: 2, busyAfter: 1 });
    q.ownerFlushes();
    for (let i = 0; i < 6; i++) q.push(A, dgram(i, 10));
    expect(scheduled()).toBe(0);
    expect(q.flush()).toBe(2);
    expect(scheduled()).toBe(1); // the retry of the 4 the socket did not take
    unblock();
    expect(q.flush()).toBe(4);
    q.push(A, dgram(6, 10));
    expect(scheduled()).toBe(1);
    expect(q.flush()).toBe(1);
    expect(sent.flatMap((s) => s.datagrams.map((d) => d[0]))).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('flushes by itself when the pool runs dry instead of growing or dropping', () => {
    const { q, pool, sent } = setup({ maxSegments: 1, buffers: 2 });
    for (let i = 0; i < 10; i++) q.push(A, dgram(i, 10));
    q.flush();
    expect(sent.flatMap((s) => s.datagrams.map((d) => d[0]))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(pool.stats().allocated).toBe(2);
    expect(pool.stats().inUse).toBe(0);
  });

  it('commit(0) cancels a reservation; misuse has stable codes', () => {
    const { q } = setup();
    q.reserve(A, 10);
    expect(() => q.reserve(A, 10)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    q.commit(0);
    expect(q.pending).toBe(0);
    expect(() => { q.commit(1); }).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => q.reserve(A, 5000)).toThrow(expect.objectContaining({ code: 'DATAGRAM_TOO_LARGE' }));
  });

  it('delivers every datagram once, per-destination order kept, GSO shape valid (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 400 }), fc.integer({ min: 0, max: 9 })), { maxLength: 150 }),
        fc.integer({ min: 1, max: 10 }),
        (ops, maxSegments) => {
          const { q, sent } = setup({ maxSegments, maxBytes: 2000, buffers: 8 });
          const expected = new Map<string, number[]>();
          let tag = 0;
          for (const [toA, len, flushEvery] of ops) {
            const dst = toA ? A : B;
            const d = dgram(tag, len);
            q.push(dst, d);
            expected.set(dst.key, [...(expected.get(dst.key) ?? []), tag & 0xff]);
            tag++;
            if (flushEvery === 0) q.flush();
          }
          q.flush();
          for (const s of sent) {
            expect(s.datagrams.length).toBeLessThanOrEqual(maxSegments);
            s.datagrams.forEach((d, i) => {
              if (i < s.datagrams.length - 1) expect(d.length).toBe(s.segSize);
              else expect(d.length).toBeLessThanOrEqual(s.segSize);
            });
          }
          for (const [key, tags] of expected) {
            expect(sent.filter((s) => s.dst === key).flatMap((s) => s.datagrams.map((d) => d[0]))).toEqual(tags);
          }
          expect(q.pending).toBe(0);
        },
      ),
    );
  });
});
