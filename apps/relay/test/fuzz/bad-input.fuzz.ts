// The relay's command line (any argv parses into a sane configuration or fails with CliError), and the TurnServer
// under random mixes of honest and hostile clients from a few hosts: quotas and capacity always hold, an honest
// client keeps its allocation, nonce and allocation tables stay bounded. `FUZZ_RUNS=100000 npx nx run relay:fuzz`.
import { argvInput, cliInput, fuzzRuns, parsesOrRefuses, replayCorpus, xorshiftRng } from '@postern/testing';
import { encodeChannelData, encodeMessage, getAttribute, decodeMessage, longTermKey, Method, type Attribute } from '@postern/stun';
import { endpoint, TurnServer, type Endpoint } from '@postern/relay-proto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CliError, FLAGS, parseCli, type RelayCliConfig } from '../../src/cli';

const RUNS = fuzzRuns(1500);

function sane(c: RelayCliConfig): void {
  for (const p of [c.listenPort, c.lowestPort, c.highestPort]) expect(Number.isInteger(p) && p >= 0 && p <= 65535).toBe(true);
  expect(c.lowestPort).toBeLessThanOrEqual(c.highestPort);
  expect(c.publicIp4 !== undefined || c.publicIp6 !== undefined).toBe(true);
  expect([0x4fff, 0x7fff]).toContain(c.lastChannel);
}

const checkCli = (argv: readonly string[], env: Record<string, string>): void => {
  parsesOrRefuses(() => parseCli(argv, env), sane, (e) => e instanceof CliError);
};

/** One client host's request, signed or not, right or wrong. */
const op = fc.record({
  host: fc.nat(3),
  port: fc.integer({ min: 1, max: 6 }),
  kind: fc.constantFrom('allocate', 'allocate', 'refresh0', 'permit', 'bind', 'data', 'garbage', 'wrong-password'),
  dt: fc.nat(120_000),
  bytes: fc.uint8Array({ maxLength: 40 }),
});

describe('relay bad input', () => {
  it('the command line parses or fails with CliError', () => {
    replayCorpus(import.meta.dirname, 'relay-cli', argvInput, (argv) => { checkCli(argv, {}); });
    fc.assert(fc.property(cliInput(FLAGS), ({ argv, env }) => { checkCli(argv, env); }), { numRuns: RUNS });
  });

  it('floods from a few hosts never break the quotas or the honest client', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const max = 8;
        const perIp = 3;
        const s = new TurnServer({ publicIp4: '198.18.17.1', staticUsers: new Map([['u', 'p']]), lowestPort: 50000, highestPort: 50000 + max - 1, maxAllocationsPerIp: perIp }, xorshiftRng(3));
        const key = longTermKey('u', 'firezone', 'p');
        const bad = longTermKey('u', 'firezone', 'guess');
        const nonces = new Map<string, string>();
        const tids = xorshiftRng(11);
        let now = 0;
        const request = (from: Endpoint, method: number, attrs: Attribute[], k = key): number | undefined => {
          for (let attempt = 0; attempt < 2; attempt++) {
            const nonce = nonces.get(from.key);
            const all = nonce === undefined ? attrs : [...attrs, { name: 'USERNAME', value: 'u' } as const, { name: 'REALM', value: 'firezone' } as const, { name: 'NONCE', value: nonce } as const];
            const transactionId = new Uint8Array(12);
            tids.fill(transactionId);
            s.handleClientInput(encodeMessage({ method, cls: 'request', transactionId, attributes: all }, nonce === undefined ? { fingerprint: true } : { integrity: k, fingerprint: true }), from, now);
            let code: number | undefined;
            for (let t = s.pollTransmit(); t; t = s.pollTransmit()) {
              const m = decodeMessage(t.payload);
              if (!m.ok || t.dst.key !== from.key) continue;
              code = getAttribute(m.message, 'ERROR-CODE')?.code;
              const n = getAttribute(m.message, 'NONCE')?.value;
              if (n !== undefined) nonces.set(from.key, n);
            }
            if (code !== 401 && code !== 438) return code;
          }
          return 401;
        };
        const honest = endpoint('198.51.100.250', 9999);
        expect(request(honest, Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }])).toBeUndefined();
        const peer = endpoint('203.0.113.5', 7);
        for (const o of ops) {
          now += o.dt % 1000; // stay inside the honest allocation's 600 s
          const from = endpoint(`192.0.2.${o.host + 1}`, o.port);
          switch (o.kind) {
            case 'allocate': {
              const code = request(from, Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }]);
              expect([undefined, 437, 486, 508]).toContain(code);
              break;
            }
            case 'refresh0':
              expect([undefined, 437]).toContain(request(from, Method.Refresh, [{ name: 'LIFETIME', seconds: 0 }]));
              break;
            case 'permit':
              request(from, Method.CreatePermission, [{ name: 'XOR-PEER-ADDRESS', address: peer }]);
              break;
            case 'bind':
              request(from, Method.ChannelBind, [{ name: 'CHANNEL-NUMBER', channel: 0x4000 + o.port }, { name: 'XOR-PEER-ADDRESS', address: peer }]);
              break;
            case 'data':
              s.handleClientInput(encodeChannelData(0x4000 + o.port, o.bytes), from, now);
              break;
            case 'garbage':
              s.handleClientInput(o.bytes, from, now);
              break;
            case 'wrong-password':
              expect(request(from, Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }], bad)).toBe(401);
              break;
          }
          s.handleTimeout(now);
          while (s.pollTransmit()) { /* peer-bound data */ }
          while (s.pollEvent()) { /* drained */ }
          const m = s.metrics(now);
          expect(m.allocations).toBeLessThanOrEqual(max);
          // 4 hosts x 3 + the honest one: the quota binds before the range does.
          expect(m.allocations).toBeLessThanOrEqual(4 * perIp + 1);
        }
        // The honest client still holds its allocation: a new ALLOCATE on its 5-tuple is a mismatch (437).
        expect(request(honest, Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }])).toBe(437);
      }),
      { numRuns: Math.ceil(RUNS / 5) },
    );
  });
});
