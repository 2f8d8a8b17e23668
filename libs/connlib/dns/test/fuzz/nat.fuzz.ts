import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NatTable, type NatProtocol, type OutsideTuple } from '../../src/index';

const RUNS = Number(process.env['POSTERN_FUZZ_RUNS'] ?? 300);
let ops = 0;
let sequences = 0;

const protocol = fc.constantFrom<NatProtocol>('tcp', 'udp', 'icmp');
// Few ports and IPs so that collisions (same real IP for two names, same port) are common.
const port = fc.constantFrom(1, 2, 3, 65535, 0);
const proxy = fc.constantFrom('100.96.0.1', '100.96.0.2', '100.96.0.5', 'fd00:2021:1111:8000::', 'fd00:2021:1111:8000::4');
const real = fc.constantFrom('10.0.0.1', '10.0.0.2', '2001:db8::1');
const flags = fc.record({ fin: fc.boolean(), rst: fc.boolean() }, { requiredKeys: [] });

const op = fc.oneof(
  fc.record({ kind: fc.constant('out' as const), protocol, port, proxy, real, flags }),
  fc.record({ kind: fc.constant('in' as const), protocol, port, real, flags }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3 * 60 * 60 * 1000 }) }),
  fc.record({ kind: fc.constant('remove' as const), proxy }),
);

function checkInvariants(t: NatTable): void {
  const entries = t.entries();
  expect(t.outsideSize).toBe(t.size);
  const outsideKeys = new Set(entries.map((e) => `${e.outside.protocol}|${e.outside.port}|${e.outside.ip}`));
  expect(outsideKeys.size).toBe(entries.length);
  for (const e of entries) {
    expect(e.outside.protocol).toBe(e.inside.protocol);
    expect(e.outside.ip.includes(':')).toBe(e.inside.ip.includes(':'));
    expect(e.outside.port).toBeGreaterThanOrEqual(e.outside.protocol === 'icmp' ? 0 : 1);
    expect(e.outside.port).toBeLessThanOrEqual(65535);
  }
}

describe('NAT table fuzz', () => {
  afterAll(() => {
    process.stdout.write(`[fuzz] NAT table: ${sequences} sequences, ${ops} operations tried\n`);
  });

  it('stays consistent under random operations (invariants after every op)', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 5, maxLength: 80, size: 'max' }), (list) => {
        sequences++;
        const t = new NatTable();
        let now = 0;
        for (const o of list) {
          ops++;
          switch (o.kind) {
            case 'out': {
              const inside = { protocol: o.protocol, port: o.port, ip: o.proxy };
              const before = t.entries().find((e) => e.inside.protocol === o.protocol && e.inside.port === o.port && e.inside.ip === o.proxy);
              const r = t.translateOutbound(inside, o.real, now, o.flags);
              const valid = (o.protocol === 'icmp' || o.port !== 0) && o.proxy.includes(':') === o.real.includes(':');
              if (!valid) {
                expect(r.kind).toBe('invalid');
                break;
              }
              expect(r.kind).toBe('ok');
              if (r.kind !== 'ok') break;
              if (before) expect(r.outside).toEqual(before.outside);
              else expect(r.outside.ip).toBe(o.real);
              // The reply maps back to exactly what was sent.
              const back = t.translateInbound(r.outside, now);
              expect(back).toEqual({ kind: 'ok', inside: { protocol: o.protocol, port: o.port, ip: o.proxy } });
              break;
            }
            case 'in': {
              const outside: OutsideTuple = { protocol: o.protocol, port: o.port, ip: o.real };
              const live = t.entries().find((e) => e.outside.protocol === o.protocol && e.outside.port === o.port && e.outside.ip === o.real);
              const r = t.translateInbound(outside, now, o.flags);
              if (live) expect(r).toEqual({ kind: 'ok', inside: live.inside });
              else expect(r.kind).not.toBe('ok');
              break;
            }
            case 'tick': {
              // pollTimeout is a lower bound: waking up just before it removes nothing.
              const due = t.pollTimeout();
              if (due !== undefined && due - 1 >= now && due - 1 <= now + o.ms) {
                const before = t.size;
                t.handleTimeout(due - 1);
                expect(t.size).toBe(before);
              }
              now += o.ms;
              t.handleTimeout(now);
              const next = t.pollTimeout();
              if (t.size > 0) expect(next).toBeGreaterThan(now);
              else expect(next).toBeUndefined();
              break;
            }
            case 'remove':
              t.removeProxyIps([o.proxy], now);
              expect(t.entries().some((e) => e.inside.ip === o.proxy)).toBe(false);
              break;
          }
          checkInvariants(t);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
