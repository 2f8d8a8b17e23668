// Any datagram from a client or a peer leaves the server consistent: no throw, every transmit decodes.
import fc from 'fast-check';
import { classifyPacket, decodeMessage, encodeMessage, Method } from '@postern/stun';
import { describe, expect, it } from 'vitest';
import { endpoint } from '../../src/index';
import { newServer, SimClient } from '../sim/harness';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 5000);

describe('TurnServer fuzz', () => {
  it('never throws on arbitrary datagrams and only emits decodable messages or ChannelData', () => {
    let tried = 0;
    const s = newServer({ lastChannel: 0x7fff });
    const c = new SimClient(s, endpoint('198.51.100.1', 1000), 'alice', 'secret');
    c.allocate(0);
    c.channelBind(0x4000, endpoint('203.0.113.1', 9), 0);
    const stunish = fc.tuple(fc.constantFrom(...Object.values(Method)), fc.constantFrom('request', 'indication', 'success', 'error'), fc.uint8Array({ maxLength: 64 })).map(([method, cls, tail]) => {
      const head = encodeMessage({ method, cls, transactionId: new Uint8Array(12), attributes: [] });
      const out = new Uint8Array(head.length + tail.length);
      out.set(head);
      out.set(tail, head.length);
      out[3] = (out[3] ?? 0) + (tail.length & ~3);
      return out;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), stunish), fc.integer({ min: 0, max: 65535 }), fc.boolean(), (bytes, port, fromPeer) => {
        tried++;
        if (fromPeer) s.handlePeerInput(bytes, endpoint('203.0.113.1', port), 4, 50000 + (port % 100), tried);
        else s.handleClientInput(bytes, endpoint('198.51.100.1', port), tried);
        s.handleTimeout(tried);
        for (let t = s.pollTransmit(); t; t = s.pollTransmit()) {
          if (t.source.kind === 'relay') continue;
          const kind = classifyPacket(t.payload, 0x7fff);
          expect(kind === 'stun' ? decodeMessage(t.payload).ok : kind === 'channel-data').toBe(true);
        }
        while (s.pollEvent()) {
          // drain
        }
      }),
      { numRuns: RUNS },
    );
    console.log(`relay-proto fuzz: ${tried} inputs tried`);
  });
});
