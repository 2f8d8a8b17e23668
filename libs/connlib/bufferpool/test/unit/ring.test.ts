import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RING_META_INTS, SharedRing, waitForChange } from '../../src/index';

function packet(n: number, len: number): Uint8Array {
  const p = new Uint8Array(len);
  p.fill(n & 0xff);
  if (len >= 4) new DataView(p.buffer).setUint32(0, n);
  return p;
}

describe('SharedRing', () => {
  it('carries packets in order through wrap-around and refuses to overfill', () => {
    const ring = SharedRing.create({ slots: 4, slotSize: 64 });
    let next = 0;
    let expectNext = 0;
    for (let round = 0; round < 10; round++) {
      let staged = 0;
      while (ring.stage(staged, packet(next, 8 + (next % 50)))) {
        staged++;
        next++;
      }
      expect(staged).toBe(4 - ring.used());
      ring.publish(staged);
      expect(ring.free()).toBe(0);
      const take = 1 + (round % 4);
      for (let i = 0; i < take; i++) {
        const seq = (ring.tail() + i) | 0;
        const len = ring.meta[ring.metaIndex(seq)] ?? 0;
        const view = ring.slot(seq).subarray(0, len);
        expect(len).toBe(8 + (expectNext % 50));
        expect(new DataView(view.buffer, view.byteOffset).getUint32(0)).toBe(expectNext);
        expectNext++;
      }
      ring.release(take);
    }
  });

  it('matches a queue model under random produce/consume steps (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 9 })), { maxLength: 200 }), (steps) => {
        const ring = SharedRing.create({ slots: 8, slotSize: 32 });
        const model: number[] = [];
        let next = 0;
        for (const [produce, k] of steps) {
          if (produce) {
            let staged = 0;
            for (let i = 0; i < k; i++) {
              if (!ring.stage(staged, packet(next, 4 + (next % 28)))) break;
              model.push(next++);
              staged++;
            }
            expect(model.length).toBeLessThanOrEqual(8);
            ring.publish(staged);
          } else {
            const n = Math.min(k, ring.used());
            for (let i = 0; i < n; i++) {
              const seq = (ring.tail() + i) | 0;
              expect(new DataView(ring.slot(seq).buffer, ring.slot(seq).byteOffset).getUint32(0)).toBe(model[i]);
              expect(ring.meta[ring.metaIndex(seq)]).toBe(4 + ((model[i] ?? 0) % 28));
            }
            model.splice(0, n);
            ring.release(n);
          }
          expect(ring.used()).toBe(model.length);
        }
      }),
    );
  });

  it('is visible through attach() (as a worker sees it) and keeps RING_META_INTS words per slot', () => {
    const ring = SharedRing.create({ slots: 2, slotSize: 16 });
    ring.stage(0, new Uint8Array([1, 2, 3]), 77);
    ring.publish(1);
    const other = SharedRing.attach(ring.sab);
    expect(other.used()).toBe(1);
    expect(Array.from(other.slot(0).subarray(0, 3))).toEqual([1, 2, 3]);
    expect(other.meta[1]).toBe(77);
    expect(other.meta.length).toBe(2 * RING_META_INTS);
  });

  it('rejects bad geometry and oversize packets', () => {
    expect(() => SharedRing.create({ slots: 3, slotSize: 64 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => SharedRing.create({ slots: 4, slotSize: 10 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    const ring = SharedRing.create({ slots: 2, slotSize: 8 });
    expect(() => ring.stage(0, new Uint8Array(9))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('wakes an async waiter on publish without blocking the event loop', async () => {
    const ring = SharedRing.create({ slots: 2, slotSize: 8 });
    const head = ring.head();
    const waiting = ring.waitHeadChange(head, 5000);
    setTimeout(() => {
      ring.stage(0, new Uint8Array(1));
      ring.publish(1);
    }, 5);
    const t0 = performance.now();
    await waiting;
    expect(performance.now() - t0).toBeLessThan(2000);
    const flag = new Int32Array(new SharedArrayBuffer(4));
    await waitForChange(flag, 0, 1, 10); // value differs: returns at once
  });
});
