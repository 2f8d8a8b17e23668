import { describe, expect, it } from 'vitest';
import { LogFilter, logFilterText, parseLogFilter, parseLogFilterOrExit, parseLogFormat } from '../../src/index';

describe('log filter directives', () => {
  it('parses a default level and per-module levels, with submodules inheriting', () => {
    const f = parseLogFilter('info,tunnel=debug,wire=trace,tunnel::dns=warn');
    expect(f.defaultLevel).toBe('info');
    expect(f.levelFor(undefined)).toBe('info');
    expect(f.levelFor('tunnel')).toBe('debug');
    expect(f.levelFor('tunnel.snownet')).toBe('debug');
    expect(f.levelFor('tunnel.dns')).toBe('warn');
    expect(f.levelFor('wire')).toBe('trace');
    expect(f.levelFor('portal')).toBe('info');
    expect(f.minLevel()).toBe('trace');
  });

  it('accepts off, WARN, spaces and empty parts; a bare module means everything of it', () => {
    const f = parseLogFilter(' warn , ,relay=OFF, phoenix ');
    expect(f.defaultLevel).toBe('warn');
    expect(f.levelFor('relay')).toBe('silent');
    expect(f.levelFor('phoenix')).toBe('trace');
    expect(LogFilter.parse('').defaultLevel).toBe('info');
  });

  it('rejects invalid directives with INVALID_LOG_FILTER naming the bad part', () => {
    for (const bad of ['info,tunnel=loud', 'tun nel=debug', '=debug', 'a=b=c', 'info,!x']) {
      expect(() => parseLogFilter(bad)).toThrow(expect.objectContaining({ code: 'INVALID_LOG_FILTER' }));
    }
    expect(() => parseLogFilter('info,tunnel=loud')).toThrow('invalid log filter directive "tunnel=loud": "loud" is not a level');
  });

  it('takes the flag, else POSTERN_LOG, else info', () => {
    expect(logFilterText('debug', { POSTERN_LOG: 'warn' })).toBe('debug');
    expect(logFilterText(undefined, { POSTERN_LOG: 'warn' })).toBe('warn');
    expect(logFilterText(undefined, {})).toBe('info');
  });

  it('gives apps a one-line message and exit code 2 for an invalid filter', () => {
    let written = '';
    let code = -1;
    const io = {
      stderr: { write: (t: string) => (written += t) },
      exit: (c: number): never => {
        code = c;
        throw new Error('exited');
      },
    };
    expect(() => parseLogFilterOrExit('postern-gateway', undefined, { POSTERN_LOG: 'info,x=nope' }, io)).toThrow('exited');
    expect(code).toBe(2);
    expect(written).toBe('postern-gateway: invalid log filter directive "x=nope": "nope" is not a level (trace, debug, info, warn, error, fatal, silent, off)\n');
    expect(parseLogFilterOrExit('b', 'debug', {}, io).defaultLevel).toBe('debug');
  });

  it('parses --log-format', () => {
    expect(parseLogFormat('json')).toBe('json');
    expect(() => parseLogFormat('xml')).toThrow(expect.objectContaining({ code: 'INVALID_LOG_FORMAT' }));
  });
});
