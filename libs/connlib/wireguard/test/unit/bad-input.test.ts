// Bad input is dropped with a typed reason and a counter; nothing throws and the tunnel keeps working.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MESSAGE_TRANSPORT_DATA, StaticIdentity, Tunn, generateKeyPair, type TunnResult } from '../../src/index';
import { bytesOf, deliver, ipv4Packet, makePair, seededRng } from '../support/pair';

const out = new Uint8Array(2048);

function connected(): { a: Tunn; b: Tunn } {
  const { a, b } = makePair({ psk: true });
  expect(deliver(a, b, bytesOf(a.formatHandshakeInitiation(out, 0, false)), 0).errors).toEqual([]);
  return { a, b };
}

function reason(r: TunnResult): string {
  return r.kind === 'error' ? r.reason : r.kind;
}

/** The tunnel still carries a packet both ways. */
function stillWorks(a: Tunn, b: Tunn, now: number): void {
  const p = ipv4Packet(40, 0x5a);
  expect(deliver(a, b, bytesOf(a.encapsulate(p, out, now)), now).tunnel.get(b)).toEqual([p]);
  expect(deliver(b, a, bytesOf(b.encapsulate(p, out, now)), now).tunnel.get(a)).toEqual([p]);
}

describe('bad input', () => {
  it('drops truncated, wrongly typed and wrongly sized datagrams', () => {
    const { a, b } = connected();
    expect(reason(b.decapsulate(new Uint8Array(0), out, 1))).toBe('truncated');
    expect(reason(b.decapsulate(Uint8Array.of(4, 0, 0), out, 1))).toBe('truncated');
    expect(reason(b.decapsulate(new Uint8Array(40).fill(9), out, 1))).toBe('wrongType');
    expect(reason(b.decapsulate(Uint8Array.of(4, 0, 0, 0, 1, 2, 3), out, 1))).toBe('truncated');
    expect(reason(b.decapsulate(Uint8Array.of(1, 0, 0, 0, ...new Uint8Array(100)), out, 1))).toBe('wrongSize');
    expect(reason(b.decapsulate(Uint8Array.of(4, 1, 0, 0, ...new Uint8Array(40)), out, 1))).toBe('wrongType');
    expect(b.stats.drops.truncated).toBe(3);
    expect(b.stats.drops.wrongType).toBe(2);
    stillWorks(a, b, 2);
  });

  it('drops data with an unknown receiver index, a forged tag, or a replayed counter', () => {
    const { a, b } = connected();
    const data = bytesOf(a.encapsulate(ipv4Packet(64), out, 1));
    const wrongIndex = data.slice();
    wrongIndex[4] = (wrongIndex[4] ?? 0) ^ 0xff;
    expect(reason(b.decapsulate(wrongIndex, out, 1))).toBe('unknownReceiverIndex');
    const forged = data.slice();
    forged[30] = (forged[30] ?? 0) ^ 1;
    expect(reason(b.decapsulate(forged, out, 1))).toBe('decryptionFailed');
    expect(reason(b.decapsulate(data.slice(), out, 1))).toBe('writeToTunnelV4');
    expect(reason(b.decapsulate(data.slice(), out, 1))).toBe('replayedCounter');
    const huge = data.slice();
    huge[15] = 0xff;
    expect(reason(b.decapsulate(huge, out, 1))).toBe('counterTooLarge');
    stillWorks(a, b, 2);
  });

  it('drops an authentic packet that is not IP', () => {
    const { a, b } = connected();
    const notIp = new Uint8Array(30).fill(0x77);
    expect(reason(b.decapsulate(bytesOf(a.encapsulate(notIp, out, 1)), out, 1))).toBe('invalidPacket');
  });

  it('rejects a replayed initiation (TAI64N not newer), a forged MAC1, and an initiation from another key', () => {
    const { a, b } = makePair();
    const init = bytesOf(a.formatHandshakeInitiation(out, 0, false));
    expect(reason(b.decapsulate(init.slice(), out, 100))).toBe('writeToNetwork');
    expect(reason(b.decapsulate(init.slice(), out, 200))).toBe('replayedTimestamp');
    const forged = init.slice();
    forged[120] = (forged[120] ?? 0) ^ 1;
    expect(reason(b.decapsulate(forged, out, 300))).toBe('invalidMac1');
    const { a: stranger } = makePair({ seed: 99 });
    // stranger's initiation is addressed to another responder key: MAC1 fails first
    expect(reason(b.decapsulate(bytesOf(stranger.formatHandshakeInitiation(out, 0, false)), out, 400))).toBe('invalidMac1');
  });

  it('drops an authentic initiation from a static key that is not this Tunn\'s peer', () => {
    const { b, identities } = makePair();
    const stranger = generateKeyPair(seededRng(77));
    const c = new Tunn({ identity: new StaticIdentity(stranger.privateKey), peerPublicKey: identities.b.publicKey, index: 3, rng: seededRng(78) });
    expect(reason(b.decapsulate(bytesOf(c.formatHandshakeInitiation(out, 0, false)), out, 1))).toBe('wrongPeer');
  });

  it('rate-limits initiations from one peer', () => {
    const { a, b } = makePair();
    const i1 = bytesOf(a.formatHandshakeInitiation(out, 0, true));
    const i2 = bytesOf(a.formatHandshakeInitiation(out, 5, true));
    expect(reason(b.decapsulate(i1, out, 100))).toBe('writeToNetwork');
    expect(reason(b.decapsulate(i2, out, 105))).toBe('handshakeRateLimited');
    expect(b.stats.drops.handshakeRateLimited).toBe(1);
  });

  it('drops a response or cookie reply that answers no pending handshake', () => {
    const { a, b } = makePair();
    const init = bytesOf(a.formatHandshakeInitiation(out, 0, false));
    const resp = bytesOf(b.decapsulate(init, out, 1));
    expect(reason(a.decapsulate(resp.slice(), out, 2))).toBe('writeToNetwork');
    expect(reason(a.decapsulate(resp.slice(), out, 3))).toBe('unknownReceiverIndex');
    expect(reason(a.decapsulate(new Uint8Array(64).fill(0).map((v, i) => (i === 0 ? 3 : v)), out, 3))).toBe('unknownReceiverIndex');
  });

  it('never throws and never breaks the tunnel on random datagrams (property)', () => {
    const { a, b } = connected();
    const valid = bytesOf(a.encapsulate(ipv4Packet(100), out, 1));
    const init = bytesOf(makePair().a.formatHandshakeInitiation(out, 0, false));
    const arb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      // a valid header with garbage after it
      fc.uint8Array({ minLength: 0, maxLength: 200 }).map((tail) => Uint8Array.of(MESSAGE_TRANSPORT_DATA, 0, 0, 0, ...valid.subarray(4, 8), ...tail)),
      // valid messages with one flipped bit
      fc.tuple(fc.constantFrom(valid, init), fc.nat(), fc.integer({ min: 0, max: 7 })).map(([m, at, bit]) => {
        const c = m.slice();
        const i = at % c.length;
        c[i] = (c[i] ?? 0) ^ (1 << bit);
        return c;
      }),
      // handshake-sized garbage of each type
      fc.tuple(fc.constantFrom(1, 2, 3), fc.uint8Array({ minLength: 144, maxLength: 144 })).map(([t, rest]) => {
        const m = Uint8Array.of(t, 0, 0, 0, ...rest);
        return m.subarray(0, t === 1 ? 148 : t === 2 ? 92 : 64);
      }),
    );
    fc.assert(
      fc.property(arb, (d) => {
        const r = b.decapsulate(d, out, 2);
        return r.kind === 'error' || r.kind === 'done' || (r.kind === 'writeToNetwork' && d[0] !== 4);
      }),
      { numRuns: 500 },
    );
    const dropped = Object.values(b.stats.drops).reduce((x, y) => x + y, 0);
    expect(dropped).toBeGreaterThan(0);
    stillWorks(a, b, 3);
  });
});
