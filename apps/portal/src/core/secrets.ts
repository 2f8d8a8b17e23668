// Token and password hashing, random tokens and deterministic ids.
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/** `sha256:<hex>`: how the config and the state file store tokens (tokens are high-entropy). */
export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('hex')}`;
}

const SCRYPT = { N: 16384, r: 8, p: 1 } as const;

/** `scrypt$N$r$p$<salt b64>$<hash b64>` */
export function hashPassword(password: string, salt: Uint8Array = randomBytes(16)): string {
  const hash = scryptSync(password, salt, 32, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${Buffer.from(salt).toString('base64')}$${hash.toString('base64')}`;
}

export function verifyPassword(password: string, encoded: string): boolean {
  const [scheme, n, r, p, salt, hash] = encoded.split('$');
  if (scheme !== 'scrypt' || n === undefined || r === undefined || p === undefined || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64');
  if (expected.length === 0) return false;
  try {
    const actual = scryptSync(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 });
    return timingSafeEqual(actual, expected);
  } catch {
    return false; // parameters out of range: a bad hash never verifies
  }
}

export function verifyToken(token: string, tokenHash: string): boolean {
  const a = Buffer.from(hashToken(token));
  const b = Buffer.from(tokenHash);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A UUID (version 8, RFC 9562) derived from a namespace string: stable ids for config objects. */
export function uuidFromName(namespace: string): string {
  const h = createHash('sha256').update(`postern:${namespace}`).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x80;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Like verifyPassword without blocking the event loop (the sign-in page uses this). */
export async function verifyPasswordAsync(password: string, encoded: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = encoded.split('$');
  if (scheme !== 'scrypt' || n === undefined || r === undefined || p === undefined || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64');
  if (expected.length === 0) return false;
  const actual = await new Promise<Buffer | undefined>((resolve) => {
    scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 }, (err, key) => {
      resolve(err ? undefined : key);
    });
  });
  return actual !== undefined && timingSafeEqual(actual, expected);
}
