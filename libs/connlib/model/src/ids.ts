// Ids, keys and small shared value types of the portal protocol (Firezone v2 wire format).
import { z } from 'zod';

/** Resource, site, gateway, client, relay ids: UUID strings from Firezone's portal, free-form from ours. */
export const IdSchema = z.string().min(1);
export type Id = z.infer<typeof IdSchema>;

/** Standard (padded) base64 of exactly 32 bytes: WireGuard public keys and preshared keys (`messages::Key`). */
export const KeySchema = z.string().refine(isKey32, { message: 'expected standard base64 of exactly 32 bytes' });
export type Key = z.infer<typeof KeySchema>;

const BASE64_32 = /^[A-Za-z0-9+/]{43}=$/;

export function isKey32(value: string): boolean {
  return BASE64_32.test(value) && Buffer.from(value, 'base64').length === 32;
}

/** Decodes a Key into its 32 bytes; throws on anything else. */
export function decodeKey(value: string): Uint8Array {
  if (!isKey32(value)) throw new TypeError('not a 32-byte standard base64 key');
  return new Uint8Array(Buffer.from(value, 'base64'));
}

export function encodeKey(bytes: Uint8Array): string {
  if (bytes.length !== 32) throw new TypeError('a key is 32 bytes');
  return Buffer.from(bytes).toString('base64');
}

export const IceCredentialsSchema = z.object({ username: z.string(), password: z.string() });
export type IceCredentials = z.infer<typeof IceCredentialsSchema>;

/** Unix seconds (portal wall clock); convert at the edge (`expires_at`). */
export const UnixSecondsSchema = z.number().int().nonnegative();

const CANDIDATE = /^candidate:\S+ \d+ \S+ \d+ /;

/** True for SDP `candidate:` attribute strings with a numeric priority (the 4th field). */
export function isIceCandidate(value: unknown): value is string {
  return typeof value === 'string' && CANDIDATE.test(value);
}

/** A candidate list where malformed entries are skipped, not fatal (Firezone's `VecSkipError`). */
export const CandidateListSchema = z.array(z.unknown()).transform((list) => list.filter(isIceCandidate));
