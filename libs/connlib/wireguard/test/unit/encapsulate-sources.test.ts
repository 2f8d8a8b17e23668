// encapsulate() reads the packet wherever it lives: from its own buffer (sealed straight into `out`, or copied
// first when it needs padding), already in place at out[16], or from a shared ring slot. The peer gets the very
// packet back each way, and the datagrams are as long as the padding rule says.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesOf, deliver, ipv4Packet, makePair } from '../support/pair';

const out = new Uint8Array(2048);

describe('encapsulate from any source buffer', () => {
  it('delivers the packet whether it is in its own buffer, in place, or in a shared ring (property)', () => {
    const { a, b } = makePair({ psk: false });
    expect(deliver(a, b, bytesOf(a.formatHandshakeInitiation(out, 0, false)), 0).errors).toEqual([]);
    const ring = new Uint8Array(new SharedArrayBuffer(1 << 16));
    fc.assert(
      fc.property(fc.integer({ min: 20, max: 1420 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom('own', 'in-place', 'ring'), (len, fill, where) => {
        const p = ipv4Packet(len, fill);
        let src = p;
        if (where === 'in-place') {
          out.set(p, 16);
          src = out.subarray(16, 16 + p.length);
        } else if (where === 'ring') {
          ring.set(p, 4096);
          src = ring.subarray(4096, 4096 + p.length);
        }
        const datagram = bytesOf(a.encapsulate(src, out, 1));
        expect(datagram.length).toBe(32 + Math.ceil(p.length / 16) * 16);
        expect(deliver(a, b, datagram, 1).tunnel.get(b)).toEqual([p]);
        // the source is unchanged (ring and own buffer)
        if (where !== 'in-place') expect(Buffer.from(src).equals(Buffer.from(p))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
