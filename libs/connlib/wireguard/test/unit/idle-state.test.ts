// What a connected, idle Tunn keeps: no handshake state (ephemeral key, chaining key, the MAC1 a cookie reply
// could answer) once the session is confirmed on both sides (issue 11: memory per idle client).
import { describe, expect, it } from 'vitest';
import { bytesOf, deliver, makePair } from '../support/pair';

describe('a connected idle Tunn', () => {
  it('holds no handshake state on either side once the session is confirmed', () => {
    const { a, b } = makePair({ psk: true });
    const out = new Uint8Array(2048);
    expect(a.holdsHandshakeState).toBe(false);
    const init = bytesOf(a.formatHandshakeInitiation(out, 0, false));
    expect(a.holdsHandshakeState).toBe(true);
    // b answers (its response could still get a cookie reply), a confirms with a keepalive
    const r = b.decapsulate(init, out, 0);
    const response = bytesOf(r);
    expect(b.holdsHandshakeState).toBe(true);
    const confirm = a.decapsulate(response, out, 1);
    expect(confirm.kind).toBe('writeToNetwork');
    expect(a.holdsHandshakeState).toBe(false);
    expect(a.isConnected(1)).toBe(true);
    const done = b.decapsulate(bytesOf(confirm), out, 2);
    expect(done.kind).toBe('done');
    expect(b.isConnected(2)).toBe(true);
    expect(b.holdsHandshakeState).toBe(false);
  });

  it('stays free of handshake state through keepalives, and takes it again for a new handshake', () => {
    const { a, b } = makePair({ a: { persistentKeepalive: 5 } });
    const out = new Uint8Array(2048);
    expect(deliver(a, b, bytesOf(a.formatHandshakeInitiation(out, 0, false)), 0).errors).toEqual([]);
    for (let t = 250; t <= 60_000; t += 250) {
      const k = a.updateTimers(out, t);
      if (k.kind === 'writeToNetwork') expect(deliver(a, b, bytesOf(k), t).errors).toEqual([]);
      const kb = b.updateTimers(out, t);
      if (kb.kind === 'writeToNetwork') deliver(b, a, bytesOf(kb), t);
    }
    expect(a.stats.rxPackets + b.stats.rxPackets).toBeGreaterThan(10);
    expect(a.holdsHandshakeState).toBe(false);
    expect(b.holdsHandshakeState).toBe(false);
    a.formatHandshakeInitiation(out, 60_001, true);
    expect(a.holdsHandshakeState).toBe(true);
  });
});
