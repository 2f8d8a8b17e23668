// Bad input everywhere the portal takes it: websocket frames of every role (and the model parsers of every
// message both ways), upgrade parameters and tokens, config files, the command line, sign-in redirects and the
// sign-in throttle. No exception escapes; invariants are checked after every input; state stays bounded.
// `FUZZ_RUNS=100000 npx nx run portal:fuzz` for a longer run; test/fuzz/corpus/*.json are replayed first.
import { fuzzRuns, recordInputs, replayCorpus, textInput } from '@postern/testing';
import { parseClientIngress, parseFrame, parseGatewayIngress, parseRelayIngress, type EventAndPayload } from '@postern/model';
import fc from 'fast-check';
import { ZodError } from 'zod';
import { describe, expect, it } from 'vitest';
import { parseCli } from '../../src/cli';
import { ConfigError, parseConfigText } from '../../src/config/load';
import { compileConfig } from '../../src/config/compile';
import { SignInThrottle } from '../../src/core/throttle';
import { isAllowedRedirect } from '../../src/http/signin';
import { EXAMPLE, Harness, KEYS, STAMP, TOKENS } from '../support';

const RUNS = fuzzRuns(1000);
const DIR = import.meta.dirname;

const CLIENT_EVENTS = ['request_authorization', 'new_gateway_ice_candidates', 'invalidate_gateway_ice_candidates', 'no_relays', 'set_snownet_capabilities', 'resolve_device_pool_domain', 'phx_join', 'phx_leave', 'heartbeat', 'bogus'];
const GATEWAY_EVENTS = ['authorization_created', 'broadcast_ice_candidates', 'broadcast_invalidated_ice_candidates', 'no_relays', 'set_snownet_capabilities', 'phx_join', 'heartbeat', 'bogus'];

const ids = fc.oneof(fc.uuid(), fc.constantFrom('', 'x', '00000000-0000-0000-0000-000000000000'), fc.string({ maxLength: 40 }));
const payload = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record(
    {
      resource_id: ids,
      gateway_id: ids,
      client_ids: fc.array(ids, { maxLength: 4 }),
      connected_gateway_ids: fc.oneof(fc.array(ids, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
      candidates: fc.oneof(fc.array(fc.string({ maxLength: 60 }), { maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })),
      ref: fc.oneof(fc.string({ maxLength: 20 }), fc.nat()),
      stamp_secret: fc.oneof(fc.constant(STAMP), fc.string({ maxLength: 70 })),
      domain: fc.string({ maxLength: 30 }),
      __proto__: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  ),
);

function frameArb(topics: readonly string[], events: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.string({ maxLength: 120 }) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    {
      weight: 6,
      arbitrary: fc
        .record({
          topic: fc.constantFrom(...topics, 'phoenix', '', 'client:x'),
          event: fc.constantFrom(...events),
          payload,
          ref: fc.oneof(fc.constant(null), fc.nat(1000), fc.string({ maxLength: 5 }), fc.double()),
        })
        .map((o) => JSON.stringify(o)),
    },
  );
}

/** Every frame the core sends is valid JSON of the Phoenix shape; stats never go negative or inconsistent. */
function checkInvariants(h: Harness): void {
  for (const o of h.core.drain()) {
    if (o.kind === 'send') {
      const f = parseFrame(o.text);
      expect(f.ok, o.text).toBe(true);
    } else if (o.kind === 'close') h.core.close(o.connId, h.now);
  }
  const s = h.core.stats();
  for (const v of [s.clients, s.gateways, s.relays, s.authorizationsActive, s.authorizationsPending, s.framesRejected]) expect(v).toBeGreaterThanOrEqual(0);
  expect(s.clients).toBeLessThanOrEqual(2);
  expect(s.gateways).toBeLessThanOrEqual(2);
  expect(s.relays).toBeLessThanOrEqual(1);
}

function world(): { h: Harness; conns: number[] } {
  const h = new Harness();
  const g1 = h.gateway();
  const g2 = h.gateway('gw-2', KEYS.gw2);
  const c1 = h.client();
  const c2 = h.client('client-2', KEYS.client2);
  const r = h.relay();
  h.core.drain();
  return { h, conns: [c1.conn, c2.conn, g1.conn, g2.conn, r] };
}

describe('portal bad input', () => {
  const clientFrame = frameArb(['client'], CLIENT_EVENTS);
  const gatewayFrame = frameArb(['gateway'], GATEWAY_EVENTS);
  const relayFrame = frameArb(['relay'], ['phx_join', 'heartbeat', 'bogus']);

  it('the core survives any sequence of frames from clients, gateways and relays', () => {
    replayCorpus(DIR, 'portal-frames', textInput, (text) => {
      const { h, conns } = world();
      for (const c of conns) h.core.receive(c, text, h.now);
      checkInvariants(h);
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(4), fc.oneof(clientFrame, gatewayFrame, relayFrame), fc.nat(30_000)), { minLength: 1, maxLength: 25 }),
        (steps) => {
          const { h, conns } = world();
          recordInputs(steps.length - 1); // count frames, not sequences
          for (const [who, text, dt] of steps) {
            h.now += dt;
            h.core.receive(conns[who] ?? 0, text, h.now);
            h.core.tick(h.now);
            checkInvariants(h);
          }
        },
      ),
      { numRuns: Math.ceil(RUNS / 10) },
    );
  });

  it('upgrade checks never throw, whatever the token and query parameters', () => {
    const h = new Harness();
    const q = fc.record(
      { external_id: fc.string({ maxLength: 40 }), name: fc.string({ maxLength: 40 }), public_key: fc.oneof(fc.constant(KEYS.client), fc.base64String({ maxLength: 60 }), fc.string()), ipv4: fc.oneof(fc.ipV4(), fc.string()), ipv6: fc.oneof(fc.ipV6(), fc.string()), port: fc.oneof(fc.nat(70_000).map(String), fc.string()) },
      { requiredKeys: [] },
    );
    const token = fc.option(fc.oneof(fc.constantFrom(...Object.values(TOKENS)), fc.string({ maxLength: 80 }), fc.constantFrom(' ', '\t\n', `${TOKENS.client} `)), { nil: undefined });
    fc.assert(
      fc.property(fc.constantFrom<('client' | 'gateway' | 'relay')[]>('client', 'gateway', 'relay'), token, q, (role, tok, query) => {
        const r = h.core.authenticate(role, tok, query, h.now);
        if (!r.ok) expect([400, 401]).toContain(r.status);
        else expect(r.identity.role).toBe(role);
      }),
      { numRuns: RUNS },
    );
  });

  it('model parsers take any payload for every portal event and answer with a message, unknown or invalid', () => {
    const events = ['init', 'resource_created_or_updated', 'resource_deleted', 'config_changed', 'relays_presence', 'authorization_created', 'authorization_creation_failed', 'ice_candidates', 'invalidate_ice_candidates', 'create_authorization', 'reject_access', 'access_authorization_expiry_updated', 'disconnect', 'bogus'];
    fc.assert(
      fc.property(fc.constantFrom(...events), payload, (event, p) => {
        const frame: EventAndPayload = { event, payload: p };
        for (const parse of [parseClientIngress, parseGatewayIngress, parseRelayIngress]) {
          const r = parse(frame);
          expect(['message', 'unknown-event', 'skipped', 'invalid']).toContain(r.kind);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('config files: YAML and JSON garbage and mutations of the example give a ConfigError, never a crash', () => {
    const lines = EXAMPLE.split('\n');
    const mutated = fc
      .tuple(fc.nat(lines.length - 1), fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('  - x', ':', '- [', '"', 'address: 10.0.0.0/99', 'sites: [nope]', '  - email: a', 'token_hash: sha256:00')), fc.boolean())
      .map(([i, text, replace]) => {
        const copy = [...lines];
        copy.splice(i, replace ? 1 : 0, text);
        return copy.join('\n');
      });
    const check = (text: string): void => {
      try {
        compileConfig(parseConfigText(text, 'fuzz.yaml'));
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        if (err instanceof ConfigError) expect(['CONFIG_SYNTAX', 'CONFIG_INVALID']).toContain(err.code);
      }
    };
    replayCorpus(DIR, 'portal-config', textInput, check);
    fc.assert(fc.property(fc.oneof(mutated, fc.string({ maxLength: 200 }), fc.json({ maxDepth: 4 })), check), { numRuns: Math.ceil(RUNS / 4) });
  });

  it('the command line refuses bad flags with a typed error', () => {
    const arg = fc.oneof(fc.constantFrom('--config', '-c', '--listen', '--state', '--log', '--log-format', '--no-watch', '--version', '-V', '-h', 'check-config', 'hash-token', 'hash-password', '--', '--bogus', '-x', 'json', 'human'), fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 6 }), (argv) => {
        try {
          const cli = parseCli(argv, {});
          if (cli.command === 'run' || cli.command === 'check-config') expect(cli.config).toBeDefined();
        } catch (err) {
          const code = err instanceof Error && 'code' in err ? String(err.code) : '';
          expect(err instanceof ZodError || code.startsWith('ERR_PARSE_ARGS'), String(err)).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('sign-in redirects: only loopback, postern: and configured prefixes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.webUrl(), fc.string({ maxLength: 60 }), fc.constantFrom('http://127.0.0.1.evil.example/', 'http://localhost@evil.example/', 'javascript:alert(1)', 'http://[::1]:1/', '//evil.example')), (uri) => {
        const ok = isAllowedRedirect(uri, []);
        if (ok) {
          const u = new URL(uri);
          expect(u.protocol === 'postern:' || ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('the sign-in throttle stays bounded and never asks for more than its cap', () => {
    const opts = { freePerIp: 3, freePerAccount: 2, baseDelayMs: 100, maxDelayMs: 5000, forgetMs: 60_000, maxKeys: 64 };
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(200), fc.nat(200), fc.nat(10_000), fc.boolean()), { maxLength: 100 }), (steps) => {
        const t = new SignInThrottle(opts);
        let now = 0;
        for (const [ip, acct, dt, ok] of steps) {
          now += dt;
          const v = t.check(`ip${ip}`, `a${acct}`, now);
          if (!v.ok) {
            expect(v.retryAfterMs).toBeGreaterThan(0);
            expect(v.retryAfterMs).toBeLessThanOrEqual(opts.maxDelayMs);
            continue;
          }
          t.attempt(`ip${ip}`, `a${acct}`, now);
          if (ok) t.success(`ip${ip}`, `a${acct}`);
          expect(t.size).toBeLessThanOrEqual(opts.maxKeys);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
