import { describe, expect, it } from 'vitest';
import { parseCli } from '../../src/cli';
import { splitHostPort } from '../../src/app';

describe('command line', () => {
  it('reads flags, falling back to the environment', () => {
    expect(parseCli(['--config', 'p.yaml', '--listen', '0.0.0.0:9000'], {})).toMatchObject({ command: 'run', config: 'p.yaml', listen: '0.0.0.0:9000', logFormat: 'human', watch: true });
    expect(parseCli([], { POSTERN_PORTAL_CONFIG: '/etc/p.yaml', POSTERN_PORTAL_STATE: ':memory:' })).toMatchObject({ config: '/etc/p.yaml', state: ':memory:' });
    expect(parseCli(['--version'], {}).command).toBe('version');
    expect(parseCli(['hash-token', 'abc'], {})).toMatchObject({ command: 'hash-token', rest: ['abc'] });
  });

  it('refuses a missing config, unknown commands and formats', () => {
    expect(() => parseCli([], {})).toThrow(/--config/);
    expect(() => parseCli(['frobnicate', '--config', 'x'], {})).toThrow();
    expect(() => parseCli(['--config', 'x', '--log-format', 'xml'], {})).toThrow();
  });

  it('splits listen addresses', () => {
    expect(splitHostPort('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(splitHostPort('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(() => splitHostPort('8080')).toThrow(/host:port/);
  });
});
