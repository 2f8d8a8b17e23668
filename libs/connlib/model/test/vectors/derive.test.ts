import { describe, expect, it } from 'vitest';
import {
  IceCredentialsSchema,
  KeySchema,
  base32LowerNoPad,
  deriveIceCredentials,
  derivePresharedKey,
  deriveTurnCredentials,
  parseTurnUsername,
  turnPassword,
} from '../../src/index';
import { loadCases } from '../fixtures/load';

// Inputs reused from Firezone's message fixtures; expected values were computed independently with
// Python's hashlib/base64 from the formulas in portal-protocol.md (Firezone's samples carry no inputs).
const CLIENT_ID = '3abd725a-733b-4801-ac16-72f26cd98a24';
const GATEWAY_ID = 'd263d490-a0bb-452a-8990-01d27a1f1144';
const CLIENT_PK = 'fiAjSBWDgQfD1CFJkTwOf4zg+1QhH0eTT+oLaVIMpH8=';
const GATEWAY_PK = 'uMBCkAxTewfSgypIyxdQ18uCi84HLtKmQJy0wvQrYWY=';
const clientPskBase = Uint8Array.from({ length: 32 }, (_, i) => i);
const gatewayPskBase = Uint8Array.from({ length: 32 }, (_, i) => 32 + i);

describe('preshared key (PBKDF2-HMAC-SHA256, 1 iteration)', () => {
  it('matches the vector', () => {
    const psk = derivePresharedKey({ clientPskBase, gatewayPskBase, clientId: CLIENT_ID, gatewayId: GATEWAY_ID, clientPublicKey: CLIENT_PK, gatewayPublicKey: GATEWAY_PK });
    expect(psk).toBe('AYlDZtTGEucn4Vzjdi9A2kXpjO4LJUqZNAssv/JqYRA=');
  });

  it('has the shape of Firezone preshared keys (psk.json)', () => {
    for (const c of loadCases('psk.json')) for (const sample of c['samples']) expect(KeySchema.safeParse(sample).success).toBe(true);
    const psk = derivePresharedKey({ clientPskBase, gatewayPskBase, clientId: 'a', gatewayId: 'b', clientPublicKey: CLIENT_PK, gatewayPublicKey: GATEWAY_PK });
    expect(KeySchema.safeParse(psk).success).toBe(true);
  });

  it('differs per gateway', () => {
    const a = derivePresharedKey({ clientPskBase, gatewayPskBase, clientId: CLIENT_ID, gatewayId: 'g1', clientPublicKey: CLIENT_PK, gatewayPublicKey: GATEWAY_PK });
    const b = derivePresharedKey({ clientPskBase, gatewayPskBase, clientId: CLIENT_ID, gatewayId: 'g2', clientPublicKey: CLIENT_PK, gatewayPublicKey: GATEWAY_PK });
    expect(a).not.toBe(b);
  });
});

describe('ICE credentials (base32 of sha256)', () => {
  it('matches the vector', () => {
    expect(deriveIceCredentials({ clientId: CLIENT_ID, clientPublicKey: CLIENT_PK, gatewayId: GATEWAY_ID, gatewayPublicKey: GATEWAY_PK })).toEqual({
      client: { username: 'sim3', password: 'ceqc5rlg6ueluoxqoa56ze' },
      gateway: { username: 'bmet', password: 'g6zhuorrjh2c2cmvvuepsa' },
    });
  });

  it('has the shape of Firezone ICE credentials (ice-credentials.json): 4 + 22 lowercase base32', () => {
    const shape = /^[a-z2-7]{4}$/;
    const pwd = /^[a-z2-7]{22}$/;
    for (const c of loadCases('ice-credentials.json')) {
      for (const s of c['samples']) {
        expect(IceCredentialsSchema.parse(s).username).toMatch(shape);
        expect(s.password).toMatch(pwd);
      }
    }
    const d = deriveIceCredentials({ clientId: 'x', clientPublicKey: 'y', gatewayId: 'z', gatewayPublicKey: 'w' });
    for (const cred of [d.client, d.gateway]) {
      expect(cred.username).toMatch(shape);
      expect(cred.password).toMatch(pwd);
    }
  });

  it('encodes RFC 4648 base32 test vectors (lower case, no padding)', () => {
    const enc = (s: string) => base32LowerNoPad(new TextEncoder().encode(s));
    expect(enc('')).toBe('');
    expect(enc('f')).toBe('my');
    expect(enc('fo')).toBe('mzxq');
    expect(enc('foo')).toBe('mzxw6');
    expect(enc('foob')).toBe('mzxw6yq');
    expect(enc('fooba')).toBe('mzxw6ytb');
    expect(enc('foobar')).toBe('mzxw6ytboi');
  });
});

describe('TURN credentials (relay-auth.json)', () => {
  const cases = loadCases('relay-auth.json');

  it('reproduces Firezone generate_password vector', () => {
    const c = cases.find((x) => x.id === 'generate_password_rust_vector');
    expect(turnPassword(c?.['relay_secret'], c?.['expiry'], c?.['salt'])).toBe(c?.['expected_password']);
  });

  it('derives username and password for a device', () => {
    const secret = '4c98bf59c99b3e467ecd7cf9d6b3e5279645fca59be67bc5bb4af3cf653761ab';
    expect(deriveTurnCredentials(secret, CLIENT_PK, 1892160000)).toEqual({
      username: '1892160000:vWv9RfZkTOa8lNJGVhSPK65JoOhjM2b5vyNIV8CU2zE',
      password: '/RYXB7HMtc/Z7o3QyJvYxKWTSQV4i3NQDDfTc/hfsW4',
      expires_at: 1892160000,
    });
  });

  it('splits usernames the way the relay does', () => {
    expect(parseTurnUsername('1685200000:n23JJ2wKKtt30oXi')).toEqual({ expiresAt: 1685200000, salt: 'n23JJ2wKKtt30oXi' });
    expect(parseTurnUsername('foobar')).toBeUndefined();
    expect(parseTurnUsername('1:2:3')).toBeUndefined();
    expect(parseTurnUsername('-1:abc')).toBeUndefined();
  });
});
