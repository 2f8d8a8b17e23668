import { cidrContains, makeCidr, type Cidr } from '@postern/ip-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RouteTable } from '../../src/index';

/** The naive model: scan every route, keep the longest containing prefix; ties go to the first given. */
function naive(routes: { cidr: Cidr; value: number }[], addr: Uint8Array): number | undefined {
  let best: { cidr: Cidr; value: number } | undefined;
  for (const r of routes) if (cidrContains(r.cidr, addr) && (best === undefined || r.cidr.prefix > best.cidr.prefix)) best = r;
  return best?.value;
}

const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
// addresses clustered in a few networks so that prefixes overlap often
const clustered4 = fc.tuple(fc.constantFrom(10, 172, 192), fc.integer({ min: 0, max: 3 }), v4).map(([a, b, r]) => Uint8Array.from([a, b, r[2] ?? 0, r[3] ?? 0]));
const route4 = fc.tuple(fc.oneof(v4, clustered4), fc.integer({ min: 0, max: 32 }));
const route6 = fc.tuple(v6, fc.integer({ min: 0, max: 128 }));

describe('RouteTable', () => {
  it('finds the longest matching prefix like a naive scan (IPv4 and IPv6)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(route4, route6), { maxLength: 30 }), fc.array(fc.oneof(v4, clustered4, v6), { minLength: 1, maxLength: 20 }), (rs, addrs) => {
        const routes = rs.flatMap(([a, p], value) => {
          const cidr = makeCidr(a, p);
          return cidr === undefined ? [] : [{ cidr, value }];
        });
        const table = new RouteTable<number>();
        table.replace(routes);
        for (const addr of [...addrs, ...routes.map((r) => r.cidr.address)]) {
          expect(table.lookup(addr)?.value).toBe(naive(routes, addr));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never matches across families', () => {
    const table = new RouteTable<string>();
    const any4 = makeCidr(new Uint8Array(4), 0);
    if (any4 === undefined) throw new Error('cidr');
    table.replace([{ cidr: any4, value: 'v4' }]);
    expect(table.lookup(new Uint8Array(16))).toBeUndefined();
    expect(table.lookup(Uint8Array.from([8, 8, 8, 8]))?.value).toBe('v4');
  });
});
