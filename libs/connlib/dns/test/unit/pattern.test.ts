import { describe, expect, it } from 'vitest';
import { comparePatterns, DnsError, DomainPattern } from '../../src/index';

describe('DomainPattern', () => {
  it('a single star stays within one label', () => {
    const p = DomainPattern.parse('*ample.com');
    expect(p.matches('example.com')).toBe(true);
    expect(p.matches('x.example.com')).toBe(false);
  });

  it('a double star in the middle matches zero or more labels', () => {
    const p = DomainPattern.parse('app.**.example.com');
    expect(p.matches('app.example.com')).toBe(true);
    expect(p.matches('app.a.b.c.example.com')).toBe(true);
    expect(p.matches('web.a.example.com')).toBe(false);
  });

  it('question marks match exactly one character', () => {
    const p = DomainPattern.parse('db?.corp');
    expect(p.matches('db1.corp')).toBe(true);
    expect(p.matches('db.corp')).toBe(false);
    expect(p.matches('db12.corp')).toBe(false);
  });

  it('ignores a trailing dot on pattern and name', () => {
    expect(DomainPattern.parse('app.corp.').matches('APP.corp.')).toBe(true);
  });

  it('rejects empty labels and a double star inside a label', () => {
    for (const bad of ['', 'a..b', 'a**.com', '**x.com', '.']) {
      expect(() => DomainPattern.parse(bad)).toThrow(DnsError);
      expect(DomainPattern.tryParse(bad)).toBeUndefined();
    }
  });

  it('orders patterns by specificity like Firezone (literal, ?, *, **, then broader suffixes)', () => {
    const sorted = [
      '**.example.com',
      'bar.example.com',
      'foo.example.com',
      'example.com',
      '*ample.com',
      '*.bar.example.com',
      '?.example.com',
      '*.com',
      '*.example.com',
    ]
      .map((s) => DomainPattern.parse(s))
      .sort(comparePatterns)
      .map(String);
    expect(sorted).toEqual([
      'example.com',
      'bar.example.com',
      '*.bar.example.com',
      'foo.example.com',
      '?.example.com',
      '*.example.com',
      '**.example.com',
      '*ample.com',
      '*.com',
    ]);
  });
});
