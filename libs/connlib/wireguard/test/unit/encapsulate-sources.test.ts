// encapsulate() reads the packet wherever it lives: from its own buffer (sealed straight into `out`, or copied
// first when it needs padding), already in place at out[16], or from a shared ring slot. The peer gets the very
// packet back each way, and the datagrams are as long as the padding rule says. Where source and datagram share
// a buffer (found by address), overlapping bytes are copied first and bytes apart are sealed from where they are.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesOf, deliver, ipv4Packet, makePair } from '../support/pair';

const out = new Uint8Array(2048);
/** A datagram buffer with room after it: a packet in the same ArrayBuffer, apart from or overlapping the datagram. */
const big = new Uint8Array(8192);
const bigOut = big.subarray(0, 2048);

describe('encapsulate from any source buffer', () => {
  it('delivers the packet whether it is in its own buffer, in place, in a shared ring, or elsewhere in the datagram\'s buffer (property)', () => {
    const { a, b } = makePair({ psk: false });
    expect(deliver(a, b, bytesOf(a.formatHandshakeInitiation(out, 0, false)), 0).errors).toEqual([]);
    const ring = new Uint8Array(new SharedArrayBuffer(1 << 16));
    fc.assert(
      fc.property(fc.integer({ min: 20, max: 1420 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom('own', 'in-place', 'ring', 'same-buffer-apart', 'overlap-header', 'overlap-later'), (len, fill, where) => {
        const p = ipv4Packet(len, fill);
        let src = p;
        let dst = out;
        const at = { 'same-buffer-apart': 4096, 'overlap-header': 0, 'overlap-later': 40 }[where as string];
        if (at !== undefined) {
          big.set(p, at);
          src = big.subarray(at, at + p.length);
          dst = bigOut;
        } else if (where === 'in-place') {
          out.set(p, 16);
          src = out.subarray(16, 16 + p.length);
        } else if (where === 'ring') {
          ring.set(p, 4096);
          src = ring.subarray(4096, 4096 + p.length);
        }
        const datagram = bytesOf(a.encapsulate(src, dst, 1));
        expect(datagram.length).toBe(32 + Math.ceil(p.length / 16) * 16);
        expect(deliver(a, b, datagram, 1).tunnel.get(b)).toEqual([p]);
        // the source is unchanged (ring and own buffer)
        if (where === 'own' || where === 'ring' || where === 'same-buffer-apart') expect(Buffer.from(src).equals(Buffer.from(p))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});

describe('padding', () => {
  it('pads with zeros whatever the datagram buffer held: the same bytes from a clean and a dirty buffer (property)', () => {
    // two identical pairs (same seeds, same handshake): one seals into zeros, the other into 0xee bytes
    const clean = makePair({ psk: false, seed: 7 });
    const dirty = makePair({ psk: false, seed: 7 });
    for (const { a, b } of [clean, dirty]) expect(deliver(a, b, bytesOf(a.formatHandshakeInitiation(out, 0, false)), 0).errors).toEqual([]);
    const cleanOut = new Uint8Array(2048);
    const dirtyOut = new Uint8Array(2048);
    fc.assert(
      fc.property(fc.integer({ min: 20, max: 1420 }), fc.boolean(), (len, inPlace) => {
        const p = ipv4Packet(len, 0x5a);
        cleanOut.fill(0);
        dirtyOut.fill(0xee);
        let src = p;
        if (inPlace) {
          dirtyOut.set(p, 16);
          src = dirtyOut.subarray(16, 16 + p.length);
        }
        const want = bytesOf(clean.a.encapsulate(p, cleanOut, 1));
        const got = bytesOf(dirty.a.encapsulate(src, dirtyOut, 1));
        expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
