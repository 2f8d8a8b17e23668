// Answers to the allocation's own requests (right transaction id, random class and attribute bytes, with or
// without a valid MESSAGE-INTEGRITY) never throw and never leave it without a way forward.
import fc from 'fast-check';
import { decodeMessageOrThrow, encodeMessage, longTermKey, type Attribute, type StunClass } from '@postern/stun';
import { describe, expect, it } from 'vitest';
import { Allocation, type NetAddr } from '../../src/index';
import { addr } from '../support/addr';
import { seededRng } from '../support/rng';

const RUNS = Number(process.env['POSTERN_FUZZ_RUNS'] ?? process.env['FUZZ_RUNS'] ?? 3000);
const RELAY = addr('198.18.32.10:3478');
const KEY = longTermKey('foobar', 'firezone', 'baz');

/** Well-formed attributes a relay might send, with random values. */
const attribute: fc.Arbitrary<Attribute> = fc.oneof(
  fc.record({ name: fc.constant('XOR-MAPPED-ADDRESS' as const), address: fc.record({ family: fc.constant(4 as const), address: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }) }) }),
  fc.record({ name: fc.constant('XOR-RELAYED-ADDRESS' as const), address: fc.record({ family: fc.constant(4 as const), address: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }) }) }),
  fc.record({ name: fc.constant('LIFETIME' as const), seconds: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ name: fc.constant('ERROR-CODE' as const), code: fc.constantFrom(300, 400, 401, 403, 437, 438, 440, 486, 500, 508), reason: fc.constant('x') }),
  fc.record({ name: fc.constant('NONCE' as const), value: fc.string({ maxLength: 20 }) }),
  fc.record({ name: fc.constant('REALM' as const), value: fc.constantFrom('firezone', 'other') }),
);

describe('Allocation fuzz', () => {
  it('random answers to its requests never throw', () => {
    let tried = 0;
    const states: Record<string, number> = {};
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom<StunClass>('success', 'error'), fc.array(attribute, { maxLength: 5 }), fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }), fc.oneof({ arbitrary: fc.integer({ min: 0, max: 50 }), weight: 8 }, { arbitrary: fc.integer({ min: 0, max: 400_000 }), weight: 1 })), { maxLength: 12 }),
        (answers) => {
          tried++;
          const a = new Allocation({ id: 'r', ipv4: RELAY.address, port: 3478, username: 'foobar', password: 'baz' }, new Map<4 | 6, NetAddr>([[4, addr('198.18.33.2:40000')]]), seededRng(tried), 0);
          let now = 0;
          a.permit(addr('198.18.32.30:1'), now);
          a.channelTo(addr('198.18.32.30:1'), now);
          for (const [cls, attributes, signed, dt] of answers) {
            const t = a.pollTransmit();
            now += dt;
            a.handleTimeout(now);
            if (t === undefined) continue;
            const req = decodeMessageOrThrow(t.payload);
            const bytes = encodeMessage({ method: req.method, cls, transactionId: req.transactionId, attributes }, signed ? { integrity: KEY } : {});
            expect(['handled', 'data']).toContain(a.handleInput(RELAY, bytes, now).kind);
            a.channelTo(addr('198.18.32.30:1'), now);
            while (a.pollEvent() !== undefined);
          }
          states[a.state] = (states[a.state] ?? 0) + 1;
          a.close(now);
        },
      ),
      { numRuns: RUNS },
    );
    process.stdout.write(`snownet Allocation fuzz: ${String(tried)} answer sequences tried (final states ${JSON.stringify(states)})\n`);
  });
});
