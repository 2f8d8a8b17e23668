// Two ICE agents with any starting roles and any tie-breakers (often equal ones), over a path that loses up to
// 15 % of the datagrams: they never throw; when the tie-breakers differ they end with exactly one controlling side
// (the larger tie-breaker when both claimed the same role) and select the same pair; equal tie-breakers (odds
// 2^-64 in real life) settle by who hears a 487 first, or fail the pair, within a bounded number of role switches.
import fc from 'fast-check';
import { decodeMessage } from '@postern/stun';
import { describe, expect, it } from 'vitest';
import { IceAgent, ROLE_CONFLICT_MAX, candidatePriority, type LocalCandidate } from '../../src/index';
import { addr } from '../support/addr';
import { seededRng } from '../support/rng';

const RUNS = Number(process.env['POSTERN_FUZZ_RUNS'] ?? process.env['FUZZ_RUNS'] ?? 200);
const A = addr('198.18.33.2:40000');
const B = addr('198.18.32.30:20000');
const CA = { username: 'aaaa', password: 'a-password-0123456789a' };
const CB = { username: 'bbbb', password: 'b-password-0123456789b' };
/** Tie-breakers: any 64-bit value, often the same one on both sides. */
const TIE = fc.oneof(fc.constant(42n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const host = (a: typeof A): LocalCandidate => ({ kind: 'host', addr: a, base: a, priority: candidatePriority('host'), relayId: undefined });
/** One object per candidate, as the Node keeps them (pairs are found by identity). */
const HA = host(A);
const HB = host(B);

describe('ICE role conflicts between two agents (property)', () => {
  it('settle on one controller that both agree on, whatever the roles, tie-breakers and losses', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), TIE, TIE, fc.integer({ min: 0, max: 15 }), fc.integer({ min: 1, max: 2 ** 31 }), (ra, rb, ta, tb, lossPct, seed) => {
        const a = new IceAgent(ra, CA, CB, ta, seededRng(seed));
        const b = new IceAgent(rb, CB, CA, tb, seededRng(seed + 1));
        a.addLocal(HA, 0);
        b.addLocal(HB, 0);
        a.addRemote({ kind: 'host', addr: B, priority: candidatePriority('host') }, 0);
        b.addRemote({ kind: 'host', addr: A, priority: candidatePriority('host') }, 0);
        const loss = seededRng(seed + 2);
        let agreed = false;
        for (let now = 0; now < 20_000; now += 10) {
          for (const [from, to, src, local] of [[a, b, A, HB], [b, a, B, HA]] as const) {
            from.handleTimeout(now);
            for (let t = from.pollTransmit(); t !== undefined; t = from.pollTransmit()) {
              if (loss.nextU32() % 100 < lossPct) continue;
              const d = decodeMessage(t.payload);
              if (!d.ok) throw new Error('an agent sent undecodable STUN');
              if (d.message.cls === 'request') to.handleRequest(d.message, local, src, now);
              else to.handleResponse(d.message, src, now);
            }
          }
          agreed ||= a.selected?.remote.addr.key === B.key && b.selected?.remote.addr.key === A.key && a.controlling !== b.controlling;
        }
        if (ta === tb && ra === rb) {
          // the tie-breakers cannot decide: whoever hears a 487 first yields, or the pair fails; never endless flips
          expect(a.roleSwitches + b.roleSwitches).toBeLessThanOrEqual(4 * ROLE_CONFLICT_MAX);
          expect(agreed || a.pairs[0]?.state === 'failed' || b.pairs[0]?.state === 'failed').toBe(true);
          return;
        }
        expect(a.controlling).not.toBe(b.controlling);
        if (ra === rb) expect(a.controlling).toBe(ta > tb);
        expect(agreed).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
