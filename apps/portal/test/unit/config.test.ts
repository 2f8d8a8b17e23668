import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load';
import { hashPassword, hashToken, uuidFromName, verifyPassword, verifyToken } from '../../src/core/secrets';
import { EXAMPLE, problems } from '../support';

describe('config file', () => {
  it('accepts the example config', () => {
    const cfg = parseConfigText(EXAMPLE, 'portal.yaml');
    expect(cfg.resources.map((r) => r.name)).toEqual(['lab-net', 'lab-web']);
    expect(cfg.server.listen).toBe('127.0.0.1:8080');
  });

  it('accepts JSON too', () => {
    const json = JSON.stringify({ account: { name: 'A', slug: 'a' }, sites: [{ name: 's' }] }, null, 2);
    expect(parseConfigText(json, 'portal.json').sites).toEqual([{ name: 's' }]);
    expect(problems(JSON.stringify({ account: { name: 'A', slug: 'a' }, sites: [{ nam: 's' }] }, null, 2))[0]).toMatch(/^portal.yaml:7:\d+: sites\[0\]\.name: /);
  });

  it('names the file, line and field of a wrong value', () => {
    const text = EXAMPLE.replace('address: 198.18.27.0/24', 'address: 198.18.27.0/33');
    const line = text.split('\n').findIndex((l) => l.includes('198.18.27.0/33')) + 1;
    expect(problems(text)).toEqual([`portal.yaml:${line}:14: resources[0].address: expected an IPv4 or IPv6 CIDR like 198.18.27.0/24`]);
  });

  it('names unknown references and keys', () => {
    const text = EXAMPLE.replace('    resource: lab-web', '    resource: lab-wbe').replace('  - name: lab\n', '  - name: lab\n    colour: red\n');
    const p = problems(text);
    expect(p.some((x) => /sites\[0\]: Unrecognized key: "colour"/.test(x))).toBe(true);
    expect(p.some((x) => /policies\[1\]\.resource: unknown resource "lab-wbe"/.test(x))).toBe(true);
  });

  it('reports unknown YAML anchors and alias bombs as syntax errors (found by the fuzzer)', () => {
    expect(() => parseConfigText('account: *nope\n', 'a.yaml')).toThrow(expect.objectContaining({ code: 'CONFIG_SYNTAX' }));
    const bomb = 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\naccount: *c\n';
    expect(() => parseConfigText(bomb, 'b.yaml')).toThrow(expect.objectContaining({ code: 'CONFIG_SYNTAX' }));
  });

  it('reports YAML syntax errors with a line', () => {
    expect(problems('account: {name: x\nsites: [')[0]).toMatch(/^portal.yaml:\d+:\d+: /);
  });

  it('refuses plaintext tokens and duplicate names', () => {
    const text = EXAMPLE.replace(/token_hash: sha256:bef2\w+/, 'token_hash: my-secret').replace('  - name: engineering\n', '  - name: engineering\n  - name: engineering\n');
    const p = problems(text);
    expect(p.some((x) => /gateways\[0\]\.token_hash: expected sha256/.test(x))).toBe(true);
    expect(p.some((x) => /groups\[1\]\.name: duplicate group/.test(x))).toBe(true);
  });
});

describe('secrets', () => {
  it('hashes and verifies passwords with scrypt', () => {
    const h = hashPassword('hunter2');
    expect(verifyPassword('hunter2', h)).toBe(true);
    expect(verifyPassword('hunter3', h)).toBe(false);
    expect(verifyPassword('x', 'garbage')).toBe(false);
    expect(verifyPassword('correct horse battery staple', /password_hash: (\S+)/.exec(EXAMPLE)?.[1] ?? '')).toBe(true);
  });

  it('hashes tokens and makes stable ids', () => {
    expect(verifyToken('postern-demo-gateway-token', hashToken('postern-demo-gateway-token'))).toBe(true);
    expect(uuidFromName('site:demo:lab')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuidFromName('a')).toBe(uuidFromName('a'));
  });
});
