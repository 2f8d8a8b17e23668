// Garbage never crashes the offload path: the pure split/coalesce functions return typed codes and stay in
// bounds on any input, and the real reader worker (tun.worker.mjs with offloads) fed garbage virtio headers
// through a socketpair counts them as malformed and keeps delivering the valid packets that follow.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { RING_DONE, SharedRing } from '@postern/bufferpool';
import { MAX_SUPER_PACKET, VNET_HDR_LEN, coalesce, segmentCount, splitPacket } from '../../src/offload.worker.mjs';
import { ACK, V4, V6, tcpPacket, tcpSuper, udpPacket, udpSuper, verify } from '../support/tcp';

const RUNS = Number(process.env['POSTERN_FUZZ_RUNS'] ?? 10_000);
const SLOT = 2048;
const ERRORS = new Set([-1, -2, -3, -4, -5]);
/** Ring control word the reader counts malformed reads in (see tun.worker.mjs). */
const RX_MALFORMED = 9;

const seeds = [
  tcpSuper(V4, { sport: 1, dport: 2, seq: 3, options: Uint8Array.of(1, 1, 1, 1) }, new Uint8Array(3000).fill(7), 1000),
  tcpSuper(V6, { sport: 1, dport: 2, seq: 3 }, new Uint8Array(5000).fill(9), 1200),
  udpSuper(V4, 1, 2, new Uint8Array(2500).fill(1), 1000),
];

/** A valid super-packet with a few bytes (most likely in the headers) overwritten, sometimes cut short. */
const mutated = fc
  .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(120), fc.nat(255)), { minLength: 1, maxLength: 6 }), fc.nat(6000))
  .map(([s, edits, cut]) => {
    const b = s.slice(0, cut % 3 === 0 ? Math.min(s.length, cut) : s.length);
    for (const [at, v] of edits) if (at < b.length) b[at] = v;
    return b;
  });
const anyInput = fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated);

function checkSplit(src: Uint8Array): void {
  const maxCount = 64;
  const dst = new Uint8Array(maxCount * SLOT);
  const offs = Array.from({ length: maxCount }, (_, i) => i * SLOT);
  const lens = new Int32Array(maxCount);
  const count = segmentCount(src, src.length, SLOT);
  const n = splitPacket(src, src.length, dst, offs, lens, SLOT, maxCount);
  if (count < 0) expect(n).toBe(count);
  if (n < 0) {
    expect(ERRORS.has(n)).toBe(true);
    return;
  }
  expect(n).toBe(count);
  for (let i = 0; i < n; i++) {
    expect(lens[i]).toBeGreaterThan(0);
    expect(lens[i]).toBeLessThanOrEqual(SLOT);
  }
}

describe('offload functions on garbage', () => {
  it('splitPacket/segmentCount: a typed code or in-bounds segments, never a throw', () => {
    fc.assert(
      fc.property(anyInput, (src) => {
        checkSplit(src);
      }),
      { numRuns: RUNS },
    );
    process.stdout.write(`fuzz splitPacket: ${RUNS} inputs tried\n`);
  });

  it('coalesce: consumes >= 1 packet and writes within the output buffer; super-packets split back into valid segments', () => {
    const packet = fc.oneof(
      fc.uint8Array({ maxLength: 1500 }),
      fc.tuple(fc.nat(3), fc.nat(255), fc.nat(60)).map(([seq, v, at]) => {
        const p = tcpPacket(V4, { sport: 1, dport: 2, seq: 1000 + seq * 100, flags: ACK }, new Uint8Array(100));
        p[at] = v;
        return p;
      }),
      fc.tuple(fc.nat(255), fc.nat(40), fc.boolean()).map(([v, at, whole]) => {
        // a UDP datagram of the one flow, with one byte of its headers set to anything
        const p = udpPacket({ ...V4, id: at }, 1, 2, new Uint8Array(whole ? 200 : 90));
        p[at % 28] = v;
        return p;
      }),
    );
    const runs = Math.ceil(RUNS / 10);
    fc.assert(
      fc.property(fc.array(packet, { minLength: 1, maxLength: 20 }), fc.boolean(), (packets, udp) => {
        const buf = new Uint8Array(packets.length * SLOT);
        const offs = packets.map((_, i) => i * SLOT);
        const lens = packets.map((p) => p.length);
        packets.forEach((p, i) => {
          buf.set(p, i * SLOT);
        });
        const out = new Uint8Array(VNET_HDR_LEN + MAX_SUPER_PACKET);
        const res = new Int32Array(2);
        for (let k = 0; k < packets.length; ) {
          coalesce(buf, offs, lens, k, packets.length - k, out, res, udp);
          const used = res[0] ?? 1;
          expect(used).toBeGreaterThanOrEqual(1);
          expect(res[1]).toBeLessThanOrEqual(out.length);
          if (used > 1) {
            const dst = new Uint8Array(64 * SLOT);
            const lensOut = new Int32Array(64);
            const n = splitPacket(out, res[1] ?? 0, dst, Array.from({ length: 64 }, (_, i) => i * SLOT), lensOut, SLOT, 64);
            expect(n).toBe(used);
            for (let i = 0; i < n; i++) {
              expect(verify(dst.subarray(i * SLOT, i * SLOT + (lensOut[i] ?? 0)))).toMatchObject({ ipOk: true, l4Ok: true, lengthOk: true });
            }
          }
          k += used;
        }
      }),
      { numRuns: runs },
    );
    process.stdout.write(`fuzz coalesce: ${runs} packet lists tried\n`);
  });
});

describe('the reader worker on garbage (socketpair in place of the TUN fd)', () => {
  it('counts malformed super-packets, delivers the valid ones after them, and stops cleanly', async () => {
    const lib = koffi.load('libc.so.6');
    const socketpair = lib.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
    const write = lib.func('intptr_t write(int fd, const uint8_t *buf, size_t count)');
    const close = lib.func('int close(int fd)');
    const eventfd = lib.func('int eventfd(unsigned int initval, int flags)');
    const sv = [0, 0];
    // AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC: one read = one message, like a TUN fd.
    expect(Number(socketpair(1, 5 | 0o4000 | 0o2000000, 0, sv))).toBe(0);
    const [ours, theirs] = sv as [number, number];
    const stopFd = Number(eventfd(0, 0o2000000 | 0o4000));
    const ring = SharedRing.create({ slots: 256, slotSize: SLOT });
    const bell = new SharedArrayBuffer(8);
    const worker = new Worker(new URL('../../src/tun.worker.mjs', import.meta.url), {
      workerData: { role: 'reader', fd: theirs, stopFd, ring: ring.sab, bell, batch: 64, pollTimeoutMs: 50, offloads: true },
    });
    const exited = once(worker, 'exit');
    try {
      await once(worker, 'message');
      const garbage = fc.sample(anyInput, { numRuns: 3000, seed: 42 }).filter((g) => g.length > 0 && segmentCount(g, g.length, SLOT) < 0);
      const valid = seeds[0] ?? new Uint8Array();
      const want = segmentCount(valid, valid.length, SLOT);
      let received = 0;
      const drain = (): void => {
        const got = ring.used();
        for (let i = 0; i < got; i++) {
          const seq = (ring.tail() + i) | 0;
          const len = ring.meta[ring.metaIndex(seq)] ?? 0;
          expect(verify(ring.slot(seq).subarray(0, len))).toMatchObject({ ipOk: true, l4Ok: true, lengthOk: true });
        }
        received += got;
        ring.release(got);
      };
      const send = async (b: Uint8Array): Promise<void> => {
        while (Number(write(ours, b, b.length)) < 0) {
          drain();
          await new Promise((r) => setTimeout(r, 1));
        }
      };
      for (const g of garbage) await send(g);
      for (let i = 0; i < 10; i++) await send(valid);
      const end = performance.now() + 10_000;
      while (received < 10 * want && performance.now() < end) {
        drain();
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(garbage.length).toBeGreaterThan(500);
      expect(received).toBe(10 * want);
      expect(Atomics.load(ring.control, RX_MALFORMED)).toBe(garbage.length);
      expect(Atomics.load(ring.control, RING_DONE)).toBe(0); // still running
      process.stdout.write(`worker fuzz: ${garbage.length} malformed super-packets dropped, ${received} valid packets delivered\n`);
    } finally {
      ring.requestStop();
      await exited;
      close(ours);
      close(theirs);
      close(stopFd);
    }
    expect(Atomics.load(ring.control, RING_DONE)).toBe(1);
  });
});
