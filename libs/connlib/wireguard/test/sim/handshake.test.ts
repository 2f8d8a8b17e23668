import { describe, expect, it } from 'vitest';
import { bytesOf, deliver, ipv4Packet, makePair } from '../support/pair';

describe('two Tunns in memory', () => {
  for (const psk of [false, true]) {
    it(`complete a handshake and carry data both ways${psk ? ' with a preshared key' : ''}`, () => {
      const { a, b } = makePair({ psk });
      const out = new Uint8Array(2048);
      const pkt = ipv4Packet(100);
      const init = a.encapsulate(pkt, out, 0);
      expect(init.kind).toBe('writeToNetwork');
      const r1 = deliver(a, b, bytesOf(init), 0);
      expect(r1.errors).toEqual([]);
      // the queued packet went out after the response and arrived at b
      expect(r1.tunnel.get(b)).toEqual([pkt]);
      expect(a.isConnected(0)).toBe(true);
      const back = ipv4Packet(33, 0x11);
      const r2 = deliver(b, a, bytesOf(b.encapsulate(back, out, 1)), 1);
      expect(r2.tunnel.get(a)).toEqual([back]);
      expect(a.stats.handshakesCompleted).toBe(1);
      expect(b.stats.handshakesCompleted).toBe(1);
    });
  }

  it('fails the handshake when the preshared keys differ', () => {
    const { a, b } = makePair({ psk: true });
    b.setPresharedKey(new Uint8Array(32).fill(7));
    const out = new Uint8Array(2048);
    const r = deliver(a, b, bytesOf(a.encapsulate(ipv4Packet(10), out, 0)), 0);
    expect(r.errors).toEqual(['decryptionFailed']);
    expect(a.isConnected(0)).toBe(false);
  });

  it('encrypts in place when the packet already sits at offset 16 of out', () => {
    const { a, b } = makePair();
    const out = new Uint8Array(2048);
    deliver(a, b, bytesOf(a.formatHandshakeInitiation(out, 0, false)), 0);
    const slot = new Uint8Array(1400);
    const pkt = ipv4Packet(1260);
    slot.set(pkt, 4 + 16);
    const view = slot.subarray(4);
    const r = a.encapsulate(view.subarray(16, 16 + pkt.length), view, 1);
    expect(r.kind === 'writeToNetwork' && r.buffer === view && r.length === 1280 + 32).toBe(true);
    const got = deliver(a, b, bytesOf(r), 1);
    expect(got.tunnel.get(b)).toEqual([pkt]);
  });
});
