// decapsulate(..., plain): transport data decrypted straight into another buffer (a TUN ring slot: no copy after),
// the datagram left as it came; without room there, in place as before. Refused datagrams write nothing there.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesOf, deliver, ipv4Packet, makePair } from '../support/pair';

const out = new Uint8Array(2048);

function connected(): ReturnType<typeof makePair> {
  const pair = makePair({ psk: false });
  expect(deliver(pair.a, pair.b, bytesOf(pair.a.formatHandshakeInitiation(out, 0, false)), 0).errors).toEqual([]);
  return pair;
}

describe('decapsulate into another buffer', () => {
  it('writes the packet at the start of `plain` and leaves the datagram sealed (property)', () => {
    const { a, b } = connected();
    const ring = new Uint8Array(new SharedArrayBuffer(1 << 16));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1400 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 40 }), (len, fill, slot) => {
        const p = ipv4Packet(len, fill);
        const datagram = bytesOf(a.encapsulate(p, out, 1));
        const sealed = datagram.slice();
        const plain = ring.subarray(slot * 1504, slot * 1504 + 1504);
        plain.fill(0xee);
        const r = b.decapsulate(datagram, out, 1, undefined, plain);
        expect(r.kind).toBe('writeToTunnelV4');
        if (r.kind !== 'writeToTunnelV4') return;
        expect(r.buffer).toBe(plain);
        expect(r.offset).toBe(0);
        expect(Buffer.from(plain.subarray(0, r.length)).equals(Buffer.from(p))).toBe(true);
        expect(Buffer.from(datagram).equals(Buffer.from(sealed))).toBe(true);
        // the padding is written too (up to the padded length), nothing after it
        const padded = datagram.length - 32;
        expect(plain.subarray(p.length, padded).every((x) => x === 0) && plain.subarray(padded).every((x) => x === 0xee)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('decrypts in place when `plain` has no room for the packet', () => {
    const { a, b } = connected();
    const p = ipv4Packet(600, 7);
    const datagram = bytesOf(a.encapsulate(p, out, 1));
    const small = new Uint8Array(datagram.length - 33).fill(0xee);
    const r = b.decapsulate(datagram, out, 1, undefined, small);
    expect(r.kind === 'writeToTunnelV4' && r.buffer === datagram && r.offset === 16).toBe(true);
    expect(Buffer.from(bytesOf(r)).equals(Buffer.from(p))).toBe(true);
    expect(small.every((x) => x === 0xee)).toBe(true);
  });

  it('refuses a forged datagram (left as it came), and writes nothing into `plain` for a replayed or an empty (keepalive) one', () => {
    const { a, b } = connected();
    const plain = new Uint8Array(1504).fill(0xee);
    const datagram = bytesOf(a.encapsulate(ipv4Packet(100), out, 1));
    const forged = datagram.slice();
    forged[40] = (forged[40] ?? 0) ^ 1;
    const before = forged.slice();
    const r1 = b.decapsulate(forged, out, 1, undefined, new Uint8Array(1504));
    expect(r1.kind === 'error' && r1.reason).toBe('decryptionFailed');
    expect(Buffer.from(forged).equals(Buffer.from(before))).toBe(true);
    expect(b.decapsulate(datagram.slice(), out, 1, undefined, new Uint8Array(1504)).kind).toBe('writeToTunnelV4');
    const r2 = b.decapsulate(datagram.slice(), out, 1, undefined, plain);
    expect(r2.kind === 'error' && r2.reason).toBe('replayedCounter');
    expect(plain.every((x) => x === 0xee)).toBe(true);
    const keepalive = bytesOf(a.encapsulate(new Uint8Array(0), out, 1));
    expect(b.decapsulate(keepalive, out, 1, undefined, plain).kind).toBe('done');
    expect(plain.every((x) => x === 0xee)).toBe(true);
  });
});
