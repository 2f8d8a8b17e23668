// The channel never throws on what the portal sends, and only a real token_expired is fatal.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseFrame, parseProblemDetails, parseRetryAfterMs, PhoenixChannelError } from '../../src/index';
import { Harness } from '../sim/harness';

const RUNS = Number(process.env['POSTERN_FUZZ_RUNS'] ?? 5_000);
const report = (target: string, runs: number): void => {
  process.stdout.write(`fuzz ${target}: ${runs} inputs tried\n`);
};

const frame = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc
    .record({
      topic: fc.constantFrom('client', 'phoenix', 'gateway', ''),
      event: fc.constantFrom('phx_reply', 'phx_error', 'phx_close', 'disconnect', 'init', 'foo', 'unknown_thing'),
      payload: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.record({ status: fc.constantFrom('ok', 'error', 'x'), response: fc.jsonValue({ maxDepth: 2 }) })),
      ref: fc.oneof(fc.constant(null), fc.nat(20), fc.string({ maxLength: 4 }), fc.double()),
      join_ref: fc.option(fc.string({ maxLength: 3 })),
    })
    .map((o) => JSON.stringify(o)),
);

describe('fuzz: phoenix channel input', () => {
  it('parseFrame never throws', () => {
    fc.assert(
      fc.property(frame, (text) => {
        const r = parseFrame(text);
        if (r instanceof PhoenixChannelError) expect(r.code).toBe('GARBAGE_FRAME');
      }),
      { numRuns: RUNS },
    );
    report('parseFrame', RUNS);
  });

  it('the core survives any frame sequence', () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 20 }), fc.array(fc.integer({ min: 0, max: 15_000 }), { maxLength: 5 }), (frames, waits) => {
        const h = new Harness().start();
        frames.forEach((f, i) => {
          if (h.socket !== undefined && (h.core.state === 'joined' || h.core.state === 'joining')) h.serverSend(f);
          const w = waits[i];
          if (w !== undefined) h.advance(w);
        });
        for (const e of h.events) if (e.type === 'fatal') expect(['INVALID_TOKEN', 'LOGIN_FAILED']).toContain(e.error.code);
      }),
      { numRuns: RUNS },
    );
    report('PhoenixChannelCore(frame sequences)', RUNS);
  });

  it('problem details and Retry-After parsing never throw', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ maxLength: 40 })), fc.string({ maxLength: 100 }), (ct, body) => {
        parseProblemDetails(ct, body);
        const ms = parseRetryAfterMs(body, 0);
        if (ms !== undefined) expect(ms).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: RUNS },
    );
    report('parseProblemDetails/parseRetryAfterMs', RUNS);
  });
});
