// Any byte string decodes to a message or a typed StunError; valid messages round-trip.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeChannelData, decodeMessage, encodeMessage, StunError, channelDataPayloadLength, type Attribute } from '../../src/index';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 20_000);
let tried = 0;

function stunLike(): fc.Arbitrary<Uint8Array> {
  // A valid header with a random body, so the attribute parser is exercised, not only the header check.
  return fc
    .tuple(fc.integer({ min: 0, max: 0x3fff }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.array(
      fc.tuple(fc.constantFrom(0x0001, 0x0006, 0x0008, 0x0009, 0x000a, 0x000c, 0x000d, 0x0012, 0x0013, 0x0014, 0x0015, 0x0016, 0x0017, 0x0018, 0x0019, 0x001a, 0x001c, 0x0020, 0x0022, 0x0024, 0x0025, 0x8000, 0x8022, 0x8028, 0x8029, 0x802a, 0x1234, 0xfedc), fc.uint8Array({ maxLength: 40 })),
      { maxLength: 8 },
    ))
    .map(([type, tid, attrs]) => {
      const body: number[] = [];
      for (const [t, v] of attrs) {
        body.push(t >> 8, t & 0xff, v.length >> 8, v.length & 0xff, ...v);
        while (body.length % 4) body.push(0);
      }
      const out = new Uint8Array(20 + body.length);
      out.set([type >> 8, type & 0xff, body.length >> 8, body.length & 0xff, 0x21, 0x12, 0xa4, 0x42]);
      out.set(tid, 8);
      out.set(body, 20);
      return out;
    });
}

describe('decode fuzz', () => {
  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), stunLike()), (b) => {
        tried++;
        const r = decodeMessage(b);
        if (!r.ok) expect(r.error).toBeInstanceOf(StunError);
        const c = decodeChannelData(b);
        if (!c.ok) expect(c.error).toBeInstanceOf(StunError);
        expect(channelDataPayloadLength(b) === -1).toBe(!c.ok);
      }),
      { numRuns: RUNS },
    );
  });

  it('re-encodes whatever it decodes to bytes that decode to the same message', () => {
    fc.assert(
      fc.property(stunLike(), (b) => {
        tried++;
        const r = decodeMessage(b);
        if (!r.ok) return;
        const attributes: Attribute[] = r.message.attributes.filter((a) => a.name !== 'FINGERPRINT');
        const again = decodeMessage(encodeMessage({ method: r.message.method, cls: r.message.cls, transactionId: r.message.transactionId, attributes }));
        if (!again.ok) throw again.error;
        expect(again.message.attributes.length).toBe(attributes.length);
        expect(again.message.method).toBe(r.message.method);
      }),
      { numRuns: RUNS },
    );
    console.log(`stun fuzz: ${tried} inputs tried`);
  });
});
