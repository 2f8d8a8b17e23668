import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BufferPool, BufferPoolError } from '../../src/index';

describe('BufferPool', () => {
  it('hands out distinct fixed-size buffers and takes them back for reuse', () => {
    const pool = new BufferPool({ bufferSize: 2048, slabBuffers: 4, maxBuffers: 8 });
    const a = pool.acquire();
    const b = pool.acquire();
    expect(a.length).toBe(2048);
    expect(a.buffer).toBe(b.buffer);
    expect(a.byteOffset).not.toBe(b.byteOffset);
    pool.release(a);
    expect(pool.acquire().byteOffset).toBe(a.byteOffset);
    expect(pool.stats()).toMatchObject({ allocated: 4, inUse: 2, free: 2, acquires: 3, releases: 1 });
  });

  it('grows one slab at a time up to maxBuffers, then fails with EXHAUSTED', () => {
    const pool = new BufferPool({ bufferSize: 64, slabBuffers: 2, maxBuffers: 3 });
    const got = [pool.acquire(), pool.acquire(), pool.acquire()];
    expect(pool.stats().allocated).toBe(3);
    expect(pool.tryAcquire()).toBeUndefined();
    expect(() => pool.acquire()).toThrow(expect.objectContaining({ code: 'EXHAUSTED' }));
    expect(pool.stats().exhausted).toBe(2);
    for (const g of got) pool.release(g);
    expect(pool.stats()).toMatchObject({ inUse: 0, highWater: 3 });
  });

  it('rejects foreign buffers and double releases', () => {
    const pool = new BufferPool({ bufferSize: 64 });
    const a = pool.acquire();
    expect(() => { pool.release(new Uint8Array(64)); }).toThrow(BufferPoolError);
    expect(() => { pool.release(a.subarray(1)); }).toThrow(expect.objectContaining({ code: 'FOREIGN_BUFFER' }));
    pool.release(a.subarray(0, 10));
    expect(() => { pool.release(a); }).toThrow(expect.objectContaining({ code: 'DOUBLE_RELEASE' }));
  });

  it('shared pools are backed by SharedArrayBuffer', () => {
    const pool = new BufferPool({ bufferSize: 64, shared: true });
    expect(pool.acquire().buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('rejects invalid sizes', () => {
    expect(() => new BufferPool({ bufferSize: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new BufferPool({ bufferSize: 8, slabBuffers: 1.5 })).toThrow(BufferPoolError);
  });

  it('never hands out a buffer twice and keeps its counts exact under random use (model)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 300 }), fc.integer({ min: 1, max: 40 }), (ops, max) => {
        const pool = new BufferPool({ bufferSize: 16, slabBuffers: 7, maxBuffers: max });
        const held: Uint8Array[] = [];
        for (const acquire of ops) {
          if (acquire) {
            const b = pool.tryAcquire();
            if (held.length >= max) expect(b).toBeUndefined();
            else {
              expect(b).toBeDefined();
              if (b === undefined) return;
              b.fill(held.length & 0xff);
              held.push(b);
            }
          } else {
            const b = held.pop();
            if (b !== undefined) pool.release(b);
          }
          expect(pool.stats().inUse).toBe(held.length);
        }
        // No two held buffers overlap.
        for (let i = 0; i < held.length; i++) for (let j = i + 1; j < held.length; j++) {
          const a = held[i];
          const b = held[j];
          if (a && b && a.buffer === b.buffer) expect(a.byteOffset).not.toBe(b.byteOffset);
        }
      }),
    );
  });
});
