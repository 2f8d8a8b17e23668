// What the portal derives per connection (portal-protocol.md "What the portal derives"; Firezone's
// formulas, kept so that peers agree): preshared key, ICE credentials, TURN credentials.
import { createHash, pbkdf2Sync } from 'node:crypto';
import type { IceCredentials } from './ids';

export interface PresharedKeyInput {
  /** 32 random bytes the portal keeps per client device. */
  readonly clientPskBase: Uint8Array;
  /** 32 random bytes the portal keeps per gateway. */
  readonly gatewayPskBase: Uint8Array;
  readonly clientId: string;
  readonly gatewayId: string;
  /** Standard base64, as on the wire. */
  readonly clientPublicKey: string;
  readonly gatewayPublicKey: string;
}

/**
 * `base64(PBKDF2-HMAC-SHA256(client_psk_base || gateway_psk_base, salt =
 * "WG_PSK|C_ID:<client id>|G_ID:<gateway id>|C_PK:<client public key>|G_PK:<gateway public key>", 1, 32))`
 */
export function derivePresharedKey(input: PresharedKeyInput): string {
  const secret = Buffer.concat([input.clientPskBase, input.gatewayPskBase]);
  const salt = `WG_PSK|C_ID:${input.clientId}|G_ID:${input.gatewayId}|C_PK:${input.clientPublicKey}|G_PK:${input.gatewayPublicKey}`;
  return pbkdf2Sync(secret, salt, 1, 32, 'sha256').toString('base64');
}

const BASE32_LOWER = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lower case, no padding. */
export function base32LowerNoPad(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_LOWER.charAt((buffer >> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_LOWER.charAt((buffer << (5 - bits)) & 31);
  return out;
}

export interface IceCredentialsInput {
  readonly clientId: string;
  readonly clientPublicKey: string;
  readonly gatewayId: string;
  readonly gatewayPublicKey: string;
}

/**
 * `h = base32_lower_nopad(sha256("<client id>:<client pubkey>:<gateway id>:<gateway pubkey>"))` (52 chars);
 * client ufrag `h[0..4]`, pwd `h[4..26]`; gateway ufrag `h[26..30]`, pwd `h[30..52]` (4 + 22 each; the
 * protocol doc's `h[30..53]` ends past the 52-character string, which is the same slice).
 */
export function deriveIceCredentials(input: IceCredentialsInput): { client: IceCredentials; gateway: IceCredentials } {
  const seed = `${input.clientId}:${input.clientPublicKey}:${input.gatewayId}:${input.gatewayPublicKey}`;
  const h = base32LowerNoPad(createHash('sha256').update(seed).digest());
  return {
    client: { username: h.slice(0, 4), password: h.slice(4, 26) },
    gateway: { username: h.slice(26, 30), password: h.slice(30, 52) },
  };
}

function sha256Base64NoPad(text: string): string {
  return createHash('sha256').update(text).digest('base64').replace(/=+$/, '');
}

/** `base64_nopad(sha256("<expiry>:<stamp_secret>:<salt>"))`; the stamp secret is used as its literal hex string. */
export function turnPassword(stampSecret: string, expiresAtUnix: number, salt: string): string {
  return sha256Base64NoPad(`${expiresAtUnix}:${stampSecret}:${salt}`);
}

/** `base64_nopad(sha256(<device public key, standard base64 string>))` */
export function turnSalt(devicePublicKey: string): string {
  return sha256Base64NoPad(devicePublicKey);
}

export interface TurnCredentials {
  /** `<expires_unix>:<salt>` */
  readonly username: string;
  readonly password: string;
  readonly expires_at: number;
}

/** TURN credentials for one device on one relay, valid until `expiresAtUnix` (seconds). */
export function deriveTurnCredentials(stampSecret: string, devicePublicKey: string, expiresAtUnix: number): TurnCredentials {
  const salt = turnSalt(devicePublicKey);
  return { username: `${expiresAtUnix}:${salt}`, password: turnPassword(stampSecret, expiresAtUnix, salt), expires_at: expiresAtUnix };
}

/** Splits `<expiry>:<salt>` (exactly one `:` and an unsigned integer expiry), or undefined. */
export function parseTurnUsername(username: string): { expiresAt: number; salt: string } | undefined {
  const parts = username.split(':');
  if (parts.length !== 2) return undefined;
  const [expiry, salt] = parts;
  if (expiry === undefined || salt === undefined || !/^\d+$/.test(expiry)) return undefined;
  const expiresAt = Number(expiry);
  return Number.isSafeInteger(expiresAt) ? { expiresAt, salt } : undefined;
}
