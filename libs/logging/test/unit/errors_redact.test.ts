import { describe, expect, it } from 'vitest';
import { REDACTED, errWithSources, redactSecrets } from '../../src/index';

describe('errWithSources', () => {
  it('joins the whole cause chain', () => {
    const e = new Error('cannot connect to the portal', { cause: new Error('handshake failed', { cause: new Error('ECONNREFUSED') }) });
    expect(errWithSources(e)).toBe('cannot connect to the portal: handshake failed: ECONNREFUSED');
  });

  it('lists AggregateError members, non-Error causes and survives cycles', () => {
    const agg = new AggregateError([new Error('v4 failed', { cause: 'EPERM' }), new Error('v6 failed')], 'all routes failed');
    expect(errWithSources(new Error('setup', { cause: agg }))).toBe('setup: all routes failed: [v4 failed: EPERM; v6 failed]');
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(errWithSources(b)).toBe('b: a: <cycle>');
    expect(errWithSources('plain')).toBe('plain');
    expect(errWithSources({ message: 'like an error' })).toBe('like an error');
  });
});

describe('redactSecrets', () => {
  it('replaces tokens, passwords, preshared and private keys at any depth', () => {
    const out = redactSecrets({
      token: 'abc',
      user: { password: 'p', name: 'ann' },
      peers: [{ preshared_key: 'k', public_key: 'pub', privateKey: new Uint8Array([1]) }],
      url: 'wss://api.example/socket?token=abc&x=1',
      authToken: 't',
      stamp_secret: 's',
    });
    expect(out).toEqual({
      token: REDACTED,
      user: { password: REDACTED, name: 'ann' },
      peers: [{ preshared_key: REDACTED, public_key: 'pub', privateKey: REDACTED }],
      url: `wss://api.example/socket?token=${REDACTED}&x=1`,
      authToken: REDACTED,
      stamp_secret: REDACTED,
    });
  });
});
