import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchArrays, BufferPoolError, ViewCache } from '../../src/index';

describe('ViewCache', () => {
  it('returns the same view object for the same bytes of the same buffer, and a fresh one otherwise', () => {
    const cache = new ViewCache(64);
    const a = new Uint8Array(4096);
    const slot = a.subarray(2048);
    const v1 = cache.view(slot, 16, 1280);
    expect(v1.byteOffset).toBe(2048 + 16);
    expect(v1.length).toBe(1280);
    expect(cache.view(slot, 16, 1280)).toBe(v1);
    // the same bytes asked for through another view of the same buffer
    expect(cache.view(a, 2048 + 16, 1280)).toBe(v1);
    const shorter = cache.view(slot, 16, 52);
    expect(shorter).not.toBe(v1);
    expect(shorter.length).toBe(52);
    // another buffer with the same offsets never gets a view of the first
    const b = new Uint8Array(4096);
    const w = cache.view(b.subarray(2048), 16, 1280);
    expect(w.buffer).toBe(b.buffer);
    expect(cache.stats()).toEqual({ hits: 2, misses: 3 });
  });

  it('clamps like subarray and never returns bytes outside the buffer (property)', () => {
    const cache = new ViewCache(8);
    const base = new Uint8Array(256).map((_, i) => i);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: -10, max: 300 }), fc.integer({ min: -10, max: 300 }), (start, off, len) => {
        const buf = base.subarray(start);
        const v = cache.view(buf, off, len);
        const ref = buf.subarray(Math.max(0, Math.min(off, buf.length)), Math.max(0, Math.min(off, buf.length)) + Math.max(0, Math.min(len, buf.length - Math.max(0, Math.min(off, buf.length)))));
        expect(v.byteOffset).toBe(ref.byteOffset);
        expect([...v]).toEqual([...ref]);
      }),
    );
  });

  it('forgets everything on clear() and rejects a table size that is not a power of two', () => {
    const cache = new ViewCache(4);
    const a = new Uint8Array(100);
    const v = cache.view(a, 0, 10);
    cache.clear();
    expect(cache.view(a, 0, 10)).not.toBe(v);
    expect(() => new ViewCache(3)).toThrow(BufferPoolError);
    expect(() => new ViewCache(0)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as unknown);
    expect(cache.view(a, 5, 10)).toHaveLength(10);
    expect(new ViewCache(1).view(a, 1, 2)).toHaveLength(2);
  });
});

describe('ViewCache.viewAt', () => {
  it('keeps one view per caller-chosen entry (ring slot x segment), so fixed layouts never evict each other', () => {
    const cache = new ViewCache(16);
    const ring = new Uint8Array(8 * 1024);
    const views = [];
    for (let slot = 0; slot < 4; slot++) for (let seg = 0; seg < 4; seg++) views.push(cache.viewAt(slot * 4 + seg, ring, slot * 1024 + seg * 200, 200));
    for (let slot = 0; slot < 4; slot++) for (let seg = 0; seg < 4; seg++) expect(cache.viewAt(slot * 4 + seg, ring, slot * 1024 + seg * 200, 200)).toBe(views[slot * 4 + seg]);
    expect(cache.stats()).toEqual({ hits: 16, misses: 16 });
    // a different length at the same entry replaces it; the index wraps modulo the table size
    expect(cache.viewAt(16, ring, 0, 52)).toHaveLength(52);
    expect(cache.viewAt(0, ring, 0, 200)).not.toBe(views[0]);
  });
});

describe('BatchArrays', () => {
  it('hands out an array of exactly n of the items, the same array for every batch of that size', () => {
    const arrays = new BatchArrays<number>(8);
    const items = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const a = arrays.of(items, 3);
    expect(a).toEqual([1, 2, 3]);
    items[0] = 42;
    expect(arrays.of(items, 3)).toBe(a);
    expect(a).toEqual([42, 2, 3]);
    expect(arrays.of(items, 0)).toEqual([]);
    // above maxCached: a fresh array each time
    const big = arrays.of(items, 10);
    expect(big).toEqual(items);
    expect(arrays.of(items, 10)).not.toBe(big);
  });
});

describe('ViewCache.within', () => {
  it('reuses the child of the same parent object for the same bytes, however many parents there are', () => {
    const cache = new ViewCache(2); // a table far too small for 20,000 positions: `within` does not use it
    const ring = new Uint8Array(20_000 * 64);
    const parents = Array.from({ length: 20_000 }, (_, i) => ring.subarray(i * 64, i * 64 + 60));
    const children = parents.map((p) => cache.within(p, 16, 40));
    parents.forEach((p, i) => {
      expect(cache.within(p, 16, 40)).toBe(children[i]);
    });
    expect(cache.stats()).toEqual({ hits: 20_000, misses: 20_000 });
    const c = children[7];
    expect(c?.byteOffset).toBe(7 * 64 + 16);
    expect(c).toHaveLength(40);
    // another length or offset replaces the parent's child; another parent over the same bytes has its own
    const p7 = parents[7] ?? new Uint8Array(0);
    expect(cache.within(p7, 16, 20)).not.toBe(c);
    expect(cache.within(p7, 16, 20)).toHaveLength(20);
    expect(cache.within(ring.subarray(7 * 64, 7 * 64 + 60), 16, 20)).not.toBe(cache.within(p7, 16, 20));
    cache.clear();
    expect(cache.within(p7, 16, 20)).not.toBe(c);
  });

  it('clamps like subarray and never returns bytes outside the parent (property)', () => {
    const cache = new ViewCache(8);
    const base = new Uint8Array(256).map((_, i) => i);
    const parents = Array.from({ length: 8 }, (_, i) => base.subarray(i * 20, i * 20 + 100));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.integer({ min: -10, max: 300 }), fc.integer({ min: -10, max: 300 }), (k, off, len) => {
        const parent = parents[k] ?? base;
        const v = cache.within(parent, off, len);
        const start = Math.max(0, Math.min(off, parent.length));
        const ref = parent.subarray(start, start + Math.max(0, Math.min(len, parent.length - start)));
        expect(v.byteOffset).toBe(ref.byteOffset);
        expect([...v]).toEqual([...ref]);
      }),
    );
  });
});

describe('ViewCache bookkeeping (what each entry covers is kept beside it, the parent read once)', () => {
  it('always hands out exactly the asked bytes, parents of two buffers at several offsets interleaved (property)', () => {
    const a = new ArrayBuffer(4096);
    const b = new SharedArrayBuffer(4096);
    // parents over the same bytes through different views, and over equal offsets in another buffer
    const parents = [new Uint8Array(a), new Uint8Array(a, 512), new Uint8Array(a, 512, 1024), new Uint8Array(b), new Uint8Array(b, 512), new Uint8Array(b, 100, 900)];
    const op = fc.record({
      kind: fc.constantFrom('view', 'viewAt', 'within'),
      parent: fc.integer({ min: 0, max: parents.length - 1 }),
      start: fc.integer({ min: 0, max: 1200 }),
      len: fc.integer({ min: 0, max: 600 }),
      index: fc.integer({ min: 0, max: 7 }),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const cache = new ViewCache(8); // small: entries are replaced often
        for (const o of ops) {
          const p = parents[o.parent] as Uint8Array;
          const v = o.kind === 'view' ? cache.view(p, o.start, o.len) : o.kind === 'viewAt' ? cache.viewAt(o.index, p, o.start, o.len) : cache.within(p, o.start, o.len);
          const want = p.subarray(o.start, o.start + o.len);
          expect(v.buffer).toBe(p.buffer);
          expect(v.byteOffset).toBe(want.byteOffset);
          expect(v.length).toBe(want.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('viewAt reuses an entry for the same parent object only (ring slot views are long-lived objects)', () => {
    const cache = new ViewCache(4);
    const ring = new Uint8Array(4096);
    const slot = ring.subarray(1024, 2048);
    const v = cache.viewAt(1, slot, 16, 100);
    expect(cache.viewAt(1, slot, 16, 100)).toBe(v);
    // the same bytes through another parent object: a fresh view of the very same bytes
    const w = cache.viewAt(1, ring.subarray(1024, 2048), 16, 100);
    expect(w).not.toBe(v);
    expect([w.byteOffset, w.length]).toEqual([v.byteOffset, v.length]);
    expect(cache.stats()).toEqual({ hits: 1, misses: 2 });
  });
});
