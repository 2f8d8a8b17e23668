// The relay's per-datagram forwarding takes the payload without a fresh view per datagram (issue 11): a
// ChannelData payload in a batched socket's receive ring is the slot view's remembered child, a peer's datagram
// relayed whole is the datagram's own view, and node:dgram's fresh Buffers get a plain subarray.
import { ViewCache } from '@postern/bufferpool';
import { measureAllocations } from '@postern/testing';
import { describe, expect, it } from 'vitest';
import { rangeOf } from '../../src/relay';

const EMPTY = new Uint8Array(0);

/** A receive ring as the batched socket keeps it: one cached view per (slot, segment). */
function ring(slots: number, segs: number, seg: number): { views: Uint8Array[] } {
  const mem = new Uint8Array(slots * segs * seg);
  const views: Uint8Array[] = [];
  for (let i = 0; i < slots * segs; i++) views.push(mem.subarray(i * seg, (i + 1) * seg));
  return { views };
}

describe('rangeOf (the forwarded part of a received datagram)', () => {
  it('the whole datagram is the datagram view itself', () => {
    const d = new Uint8Array(100);
    expect(rangeOf(new ViewCache(2), d, 0, 100, true)).toBe(d);
    expect(rangeOf(new ViewCache(2), d, 0, 100, false)).toBe(d);
  });

  it('a part of a reused view is the same child each time; the bytes are the range', () => {
    const views = new ViewCache(2);
    const d = Uint8Array.from({ length: 40 }, (_, i) => i);
    const a = rangeOf(views, d, 4, 36, true);
    expect([...a]).toEqual(Array.from({ length: 32 }, (_, i) => i + 4));
    expect(rangeOf(views, d, 4, 36, true)).toBe(a);
    // another range of the same view: a new child with those bytes
    const b = rangeOf(views, d, 4, 20, true);
    expect([...b]).toEqual(Array.from({ length: 16 }, (_, i) => i + 4));
    expect(b).not.toBe(a);
  });

  it('node:dgram (fresh buffers): a plain subarray, nothing remembered', () => {
    const views = new ViewCache(2);
    const d = Uint8Array.from({ length: 40 }, (_, i) => i);
    const a = rangeOf(views, d, 4, 36, false);
    expect(a).not.toBe(rangeOf(views, d, 4, 36, false));
    expect(views.stats()).toEqual({ hits: 0, misses: 0 });
  });

  it('ChannelData payloads from a receive ring: no allocation per datagram once the ring went round', async () => {
    const r = ring(64, 16, 1236);
    const views = new ViewCache(2);
    let sum = 0;
    const pass = (): void => {
      const vs = r.views;
      for (let i = 0; i < vs.length; i++) sum += rangeOf(views, vs[i] ?? EMPTY, 4, 1236, true).length;
    };
    pass();
    const N = 50;
    const report = await measureAllocations(() => {
      for (let i = 0; i < N; i++) pass();
    });
    expect(sum).toBe((N + 1) * r.views.length * 1232);
    const perDatagram = report.bytes / (N * r.views.length);
    // a fresh subarray per datagram (the relay before) is ~70 B plus its backing bookkeeping
    expect(perDatagram, report.top.join('\n')).toBeLessThan(2);
  });

  it('the control: a subarray per datagram is seen by the measurement', async () => {
    const r = ring(64, 16, 1236);
    const views = new ViewCache(2);
    let sum = 0;
    const N = 50;
    const report = await measureAllocations(() => {
      const vs = r.views;
      for (let i = 0; i < N; i++) for (let k = 0; k < vs.length; k++) sum += rangeOf(views, vs[k] ?? EMPTY, 4, 1236, false).length;
    });
    expect(sum).toBe(N * r.views.length * 1232);
    expect(report.bytes / (N * r.views.length)).toBeGreaterThan(20);
  });
});
