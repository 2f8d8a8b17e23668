import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DomainPattern, mapSentinels, StubResolver } from '../../src/index';
import { decode, query } from '../support/dns';

const RUNS = Number(process.env['POSTERN_FUZZ_RUNS'] ?? 1000);
let tried = 0;

/** Reference matcher: a regular expression over `name.` where every label carries its trailing dot. */
function reference(pattern: string, name: string): boolean {
  const labels = pattern.toLowerCase().split('.');
  const body = labels
    .map((l) => (l === '**' ? '(?:[^.]+\\.)*' : `${l.replace(/[-\\^$+.()|[\]{}]/g, '\\$&').replace(/\*/g, '[^.]*').replace(/\?/g, '[^.]')}\\.`))
    .join('');
  const n = `${name.toLowerCase()}.`;
  if (new RegExp(`^${body}$`).test(n)) return true;
  return labels[0] === '*' && labels.slice(1).join('.') === name.toLowerCase();
}

const letter = fc.constantFrom('a', 'b', 'B', 'c');
const label = fc.array(letter, { minLength: 1, maxLength: 3 }).map((a) => a.join(''));
const patLabel = fc.oneof(
  label,
  fc.constant('*'),
  fc.constant('**'),
  fc.array(fc.constantFrom('a', 'b', '*', '?'), { minLength: 1, maxLength: 3 }).map((a) => a.join('')).filter((s) => !s.includes('**')),
);
const nameArb = fc.array(label, { minLength: 1, maxLength: 5 }).map((l) => l.join('.'));
const patternArb = fc.array(patLabel, { minLength: 1, maxLength: 5 }).map((l) => l.join('.'));

describe('model-based fuzz', () => {
  afterAll(() => {
    process.stdout.write(`[fuzz] pattern reference / stub model: ${tried} inputs tried\n`);
  });

  it('pattern matching agrees with a regular-expression reference', () => {
    fc.assert(
      fc.property(patternArb, nameArb, (pattern, name) => {
        tried++;
        expect(DomainPattern.parse(pattern).matches(name)).toBe(reference(pattern, name));
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it('proxy IPs are stable per name, unique across names and map back to their name', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(nameArb, fc.constantFrom('A' as const, 'AAAA' as const)), { minLength: 1, maxLength: 30 }), (queries) => {
        tried++;
        const s = new StubResolver({ sentinels: mapSentinels({ system: ['192.0.2.1'] }) });
        s.addResource({ id: 'all', address: '**.a', ipStack: 'dual' });
        s.addResource({ id: 'b', address: '*.b', ipStack: 'ipv4_only' });
        const seen = new Map<string, string>(); // ip -> name
        const byName = new Map<string, string[]>();
        for (const [name, type] of queries) {
          const action = s.handleQuery(query(name, type), '100.100.111.1', 0);
          const lower = name.toLowerCase();
          const covered = DomainPattern.parse('**.a').matches(lower) || DomainPattern.parse('*.b').matches(lower);
          expect(action.kind).toBe(covered ? 'respond' : 'forward');
          if (action.kind !== 'respond') continue;
          const ips = decode(action.response).answers.map((a) => String(a.data));
          const key = `${lower}|${type}`;
          const before = byName.get(key);
          if (before) expect(ips).toEqual(before);
          byName.set(key, ips);
          for (const ip of ips) {
            const owner = seen.get(ip);
            if (owner !== undefined) expect(owner).toBe(lower);
            seen.set(ip, lower);
            expect(s.lookupProxyIp(ip)?.name).toBe(lower);
          }
          if (type === 'AAAA' && !DomainPattern.parse('**.a').matches(lower)) expect(ips).toEqual([]);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
