import { describe, expect, it } from 'vitest';
import { defaultUserAgent, formatUserAgent, redactUrl, upgradeHeaders } from '../../src/index';

describe('upgrade request helpers', () => {
  it('formats the User-Agent as <os>/<os version> <component>/<version> (<arch>; <kernel>) without non-ASCII', () => {
    expect(formatUserAgent({ os: 'Debian GNU/Linux', osVersion: '12', component: 'gateway', version: '1.2.3', arch: 'x86_64', kernel: '6.1.0-13-amd64' })).toBe(
      'Debian GNU/Linux/12 gateway/1.2.3 (x86_64; 6.1.0-13-amd64)',
    );
    expect(formatUserAgent({ os: 'Ubüntu', osVersion: '24.04', component: 'relay', version: '0', arch: 'arm64', kernel: '6' })).toBe('Ubntu/24.04 relay/0 (arm64; 6)');
    expect(defaultUserAgent('headless-client', '0.1.0')).toMatch(/^\S.*\/\S+ headless-client\/0\.1\.0 \(\S+; \S+\)$/);
  });

  it('puts the token only in X-Authorization, whitespace stripped', () => {
    expect(upgradeHeaders(' a b\tc\n', 'UA')).toEqual({ 'User-Agent': 'UA', 'X-Authorization': 'Bearer abc' });
  });

  it('redacts a token in the query and a password in the URL before logging', () => {
    expect(redactUrl('wss://u:pw@portal.example/client/v2/websocket?token=s3cret&name=x')).toBe('wss://u:REDACTED@portal.example/client/v2/websocket?token=REDACTED&name=x');
    expect(redactUrl(new URL('ws://127.0.0.1:1/x?name=y'))).toBe('ws://127.0.0.1:1/x?name=y');
  });
});
