import { describe, expect, it } from 'vitest';
import { DomainPattern, matchResources } from '../../src/index';
import { loadFixture, need, type PatternCase } from '../support/fixtures';

const { cases } = loadFixture<PatternCase>('dns-patterns.json');

describe('dns-patterns.json (Firezone)', () => {
  for (const c of cases.filter((c) => c.kind === 'match')) {
    it(`${c.id}: ${c.pattern} ${c.matches ? 'matches' : 'does not match'} ${c.name}`, () => {
      expect(DomainPattern.parse(need(c.pattern, 'pattern')).matches(need(c.name, 'name'))).toBe(c.matches);
    });
  }

  for (const c of cases.filter((c) => c.kind === 'resolution_order')) {
    it(`${c.id}: the most specific resource comes first`, () => {
      const resources = need(c.resources, 'resources').map((r) => ({ id: r.id, pattern: DomainPattern.parse(r.pattern) }));
      expect(matchResources(resources, need(c.query, 'query')).map((r) => r.id)).toEqual(c.expected_match_ids_in_order);
      expect(matchResources([...resources].reverse(), need(c.query, 'query')).map((r) => r.id)).toEqual(c.expected_match_ids_in_order);
    });
  }

  for (const c of cases.filter((c) => c.kind === 'display')) {
    it(`${c.id}: displays the original pattern`, () => {
      expect(String(DomainPattern.parse(need(c.pattern, 'pattern')))).toBe(c.expected_display);
    });
  }

  it('matching_rules: case-insensitive, `*.` matches the parent, SRV/TXT tie goes to the highest id', () => {
    expect(DomainPattern.parse('*.Example.COM').matches('FOO.example.com')).toBe(true);
    expect(DomainPattern.parse('*.example.com').matches('example.com')).toBe(true);
    expect(DomainPattern.parse('foo.*.example.com').matches('foo.example.com')).toBe(false);
    const same = [
      { id: 'a', pattern: DomainPattern.parse('*.example.com') },
      { id: 'b', pattern: DomainPattern.parse('*.example.com') },
    ];
    expect(matchResources(same, 'x.example.com')[0]?.id).toBe('b');
  });
});
