// Any datagram, from a relay's address or from anywhere, leaves a Node (with connections, ICE agents and a
// live allocation) consistent: no throw, typed results only, and the connection still carries traffic.
import fc from 'fast-check';
import { encodeChannelData, encodeMessage, Method, type StunClass } from '@postern/stun';
import { describe, expect, it } from 'vitest';
import { addr, World } from '../sim/world';

const RUNS = Number(process.env['POSTERN_FUZZ_RUNS'] ?? process.env['FUZZ_RUNS'] ?? 3000);
const CLASSES: readonly StunClass[] = ['request', 'indication', 'success', 'error'];

/** STUN-looking datagrams: a valid header of a known method and class, then random attribute bytes. */
const stunish = fc
  .tuple(fc.constantFrom(...Object.values(Method)), fc.constantFrom(...CLASSES), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 96 }))
  .map(([method, cls, tid, tail]) => {
    const head = encodeMessage({ method, cls, transactionId: tid, attributes: [] });
    const out = new Uint8Array(head.length + tail.length);
    out.set(head);
    out.set(tail, head.length);
    out[3] = (tail.length & ~3) & 0xff;
    out[2] = (tail.length >> 8) & 0xff;
    return out;
  });

/** ChannelData with any channel number and a payload that may be shorter than its header says. */
const channelish = fc.tuple(fc.integer({ min: 0x4000, max: 0x4fff }), fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 8 })).map(([ch, payload, cut]) => {
  const b = encodeChannelData(ch, payload);
  return b.subarray(0, Math.max(0, b.length - cut));
});

/** WireGuard-looking: a message type 1-4 and random bytes. */
const wireguardish = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 160 })).map(([t, rest]) => {
  const b = new Uint8Array(4 + rest.length);
  b[0] = t;
  b.set(rest, 4);
  return b;
});

describe('Node fuzz', () => {
  it('never throws on arbitrary datagrams from relays, peers and strangers', () => {
    const w = new World({ clientNat: 'symmetric', gatewayNat: 'symmetric', relays: 1 });
    w.useRelays();
    w.run(500);
    w.connect();
    w.run(5_000);
    expect(w.client.node.stats('gateway')?.path).toBe('relay');
    const relay = w.relays[0]?.main ?? addr('198.18.32.10', 3478);
    const sources = [relay, addr('198.18.32.30', 20_000), addr('198.18.32.99', 1), addr('fd00::1', 3478)];
    const kinds: Record<string, number> = {};
    let tried = 0;
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), stunish, channelish, wireguardish),
        fc.constantFrom(...sources),
        fc.boolean(),
        (bytes, from, toClient) => {
          tried++;
          const node = toClient ? w.client.node : w.gateway.node;
          const r = node.decapsulate(from, bytes, w.now);
          const k = r.kind === 'drop' ? `drop:${r.reason}` : r.kind;
          kinds[k] = (kinds[k] ?? 0) + 1;
          expect(['packet', 'handled', 'drop']).toContain(r.kind);
          node.handleTimeout(w.now);
          while (node.pollTransmit() !== undefined);
        },
      ),
      { numRuns: RUNS },
    );
    process.stdout.write(`snownet Node fuzz: ${String(tried)} inputs tried (${JSON.stringify(kinds)})\n`);
    // the connection survived the garbage
    w.run(1_000);
    expect(w.traffic('client', 10)).toBe(10);
  });
});
