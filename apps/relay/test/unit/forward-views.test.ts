// The relay's per-datagram forwarding queues a ChannelData payload without a view of it (issue 11):
// pushRangeOrDrop copies the whole datagram into the reserved send buffer and moves the payload to its front.
// Checked on a real GsoQueue over a real BufferPool, with datagrams from a receive ring shaped like the batched
// socket's (one cached view per slot and segment).
import { BufferPool } from '@postern/bufferpool';
import { GsoQueue, type Batch, type SocketAddr } from '@postern/socket-factory';
import { measureAllocations } from '@postern/testing';
import { describe, expect, it } from 'vitest';
import { pushOrDrop, pushRangeOrDrop } from '../../src/relay';

const EMPTY = new Uint8Array(0);
const peer: SocketAddr = { family: 4, address: '198.18.16.4', port: 50_123, key: '198.18.16.4:50123' };

/** A send queue whose transmit sums what it sends (and keeps the last datagram's bytes when asked). */
function queue(keep: boolean): { q: GsoQueue; sent: Uint8Array[]; bytes: { n: number; datagrams: number } } {
  const pool = new BufferPool({ bufferSize: 65536, slabBuffers: 4, maxBuffers: 16 });
  const sent: Uint8Array[] = [];
  const bytes = { n: 0, datagrams: 0 };
  const q = new GsoQueue({
    pool,
    maxSegments: 64,
    maxBytes: 65000,
    schedule: () => undefined,
    transmit: (batches: readonly Batch[]) => {
      for (let i = 0; i < batches.length; i++) {
        const b = batches[i];
        if (b === undefined) continue;
        bytes.n += b.len;
        bytes.datagrams += b.count;
        if (keep) for (let off = 0; off < b.len; off += b.segSize) sent.push(b.buf.slice(off, Math.min(off + b.segSize, b.len)));
        pool.release(b.buf);
      }
      return batches.length;
    },
  });
  return { q, sent, bytes };
}

/** ChannelData datagrams (channel 0x4000, 4-byte header) in a receive ring: one view per (slot, segment). */
function ring(slots: number, segs: number, payload: number): Uint8Array[] {
  const size = 4 + payload;
  const mem = new Uint8Array(slots * segs * size);
  const views: Uint8Array[] = [];
  for (let i = 0; i < slots * segs; i++) {
    const v = mem.subarray(i * size, (i + 1) * size);
    v.set([0x40, 0x00, payload >> 8, payload & 0xff]);
    for (let k = 4; k < size; k++) v[k] = (i + k) & 0xff;
    views.push(v);
  }
  return views;
}

describe('pushRangeOrDrop (a ChannelData payload to the peer)', () => {
  it('sends exactly the range: the payload after the header, without the padding after it', () => {
    const { q, sent } = queue(true);
    const d = Uint8Array.from({ length: 24 }, (_, i) => i); // 4-byte header, 17-byte payload, 3 bytes of padding
    expect(pushRangeOrDrop(q, peer, d, 4, 21)).toBe(true);
    expect(pushRangeOrDrop(q, peer, d, 0, 24)).toBe(true); // the whole datagram: as it is
    q.flush();
    expect(sent.map((s) => [...s])).toEqual([Array.from({ length: 17 }, (_, i) => i + 4), Array.from({ length: 24 }, (_, i) => i)]);
  });

  it('an empty payload is sent as an empty datagram', () => {
    const { q, bytes } = queue(false);
    const d = new Uint8Array([0x40, 0, 0, 0]);
    expect(pushRangeOrDrop(q, peer, d, 4, 4)).toBe(true);
    q.flush();
    expect(bytes).toEqual({ n: 0, datagrams: 0 }); // GsoQueue: a 0-byte commit cancels
  });

  it('no allocation per datagram (the subarray it replaced is seen by the same measurement)', async () => {
    const views = ring(64, 16, 1232);
    const run = (fresh: boolean): void => {
      const { q } = measured;
      for (let i = 0; i < views.length; i++) {
        const d = views[i] ?? EMPTY;
        if (fresh) pushOrDrop(q, peer, d.subarray(4, d.length));
        else pushRangeOrDrop(q, peer, d, 4, d.length);
        if ((i & 63) === 63) q.flush();
      }
      q.flush();
    };
    const measured = queue(false);
    run(false);
    run(true); // warm-up both
    const N = 100;
    const before = measured.bytes.n;
    const now = await measureAllocations(() => {
      for (let i = 0; i < N; i++) run(false);
    });
    expect(measured.bytes.n - before).toBe(N * views.length * 1232);
    const old = await measureAllocations(() => {
      for (let i = 0; i < N; i++) run(true);
    });
    const perDatagram = now.bytes / (N * views.length);
    const oldPerDatagram = old.bytes / (N * views.length);
    process.stdout.write(`relay forwarding: ${perDatagram.toFixed(2)} B/datagram (a subarray per datagram: ${oldPerDatagram.toFixed(2)})\n`);
    // Anything made per datagram is at least 16 bytes (a HeapNumber; a subarray is ~96 here). What remains is per
    // batch: the send queue's view-cache misses (reserve), measured 0.7-2.3 B/datagram over runs of this sampling
    // profiler; a bound of 2 failed on that noise (2026-11-27), 8 still catches one allocation per datagram.
    expect(perDatagram, now.top.join('\n')).toBeLessThan(8);
    expect(oldPerDatagram).toBeGreaterThan(20);
  });
});
