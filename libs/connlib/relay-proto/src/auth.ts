// Long-term credentials: Firezone's stamp-secret scheme, static users, coturn's REST scheme; nonces.
import { createHash, createHmac } from 'node:crypto';
import { longTermKey } from '@postern/stun';
import type { AuthFailure, Rng } from './types';

/** Firezone's relay password: base64_nopad(sha256("<expiry>:<stamp_secret>:<salt>")), secret used as text. */
export function firezonePassword(stampSecret: string, expiry: number | bigint, salt: string): string {
  return createHash('sha256').update(`${expiry}:${stampSecret}:${salt}`).digest('base64').replace(/=+$/, '');
}

/** Splits a Firezone username `<expiry unix seconds>:<salt>` (exactly one ':'); undefined if malformed. */
export function splitFirezoneUsername(username: string): { expiry: number; salt: string } | undefined {
  const m = /^(\d{1,20}):([^:]*)$/.exec(username);
  if (!m) return undefined;
  const expiry = Number(m[1]);
  if (!Number.isSafeInteger(expiry)) return undefined;
  return { expiry, salt: m[2] ?? '' };
}

/** coturn REST password (`--use-auth-secret`): base64(HMAC-SHA1(secret, username)); username `<expiry>[:<user>]`. */
export function restPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

export type CredentialKind = 'firezone' | 'static' | 'rest';

export interface Credential {
  readonly kind: CredentialKind;
  /** Candidate keys to try against MESSAGE-INTEGRITY (a username may match more than one scheme). */
  readonly keys: readonly Uint8Array[];
}

export interface CredentialStoreOptions {
  readonly realm: string;
  readonly stampSecret?: string | undefined;
  readonly staticUsers?: ReadonlyMap<string, string> | undefined;
  readonly restSecret?: string | undefined;
}

/** Finds the possible keys for a username at `nowUnix`, or why there are none. */
export class CredentialStore {
  private stampSecret: string | undefined;
  private readonly staticKeys = new Map<string, Uint8Array>();

  constructor(private readonly opts: CredentialStoreOptions) {
    this.stampSecret = opts.stampSecret;
    for (const [user, pass] of opts.staticUsers ?? []) this.staticKeys.set(user, longTermKey(user, opts.realm, pass));
  }

  setStampSecret(secret: string | undefined): void {
    this.stampSecret = secret;
  }

  get hasStampSecret(): boolean {
    return this.stampSecret !== undefined;
  }

  lookup(username: string, nowUnix: number): Credential | AuthFailure {
    const realm = this.opts.realm;
    const fixed = this.staticKeys.get(username);
    if (fixed) return { kind: 'static', keys: [fixed] };
    const keys: Uint8Array[] = [];
    let kind: CredentialKind | undefined;
    let expired = false;
    const fz = splitFirezoneUsername(username);
    if (fz && this.stampSecret !== undefined) {
      // Expiry equal to now is still valid (relay-auth.json verify_expired).
      if (fz.expiry < nowUnix) expired = true;
      else {
        keys.push(longTermKey(username, realm, firezonePassword(this.stampSecret, fz.expiry, fz.salt)));
        kind = 'firezone';
      }
    }
    const rest = /^(\d{1,20})(?::|$)/.exec(username);
    if (rest && this.opts.restSecret !== undefined) {
      if (Number(rest[1]) < nowUnix) expired = true;
      else {
        keys.push(longTermKey(username, realm, restPassword(this.opts.restSecret, username)));
        kind ??= 'rest';
      }
    }
    if (kind) return { kind, keys };
    if (expired) return 'expired';
    if (fz && this.stampSecret === undefined && this.opts.restSecret === undefined) return 'no-secret';
    return 'unknown-user';
  }
}

/** Formats 16 random bytes as a hyphenated UUID string (Firezone's nonce format). */
function uuid(rng: Rng): string {
  const b = new Uint8Array(16);
  rng.fill(b);
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export type NonceCheck = 'ok' | 'stale' | 'unknown';

/**
 * One nonce per client address, valid for `uses` requests; a new one is issued once it is used up. Bounded:
 * at most `maxClients` entries (oldest evicted).
 */
export class NonceStore {
  private readonly byClient = new Map<string, { nonce: string; remaining: number }>();

  constructor(
    private readonly rng: Rng,
    private readonly uses = 10_000,
    private readonly maxClients = 100_000,
  ) {}

  /** The nonce to hand to this client (its current one while it has uses left). */
  issue(clientKey: string): string {
    const cur = this.byClient.get(clientKey);
    if (cur && cur.remaining > 0) return cur.nonce;
    const fresh = { nonce: uuid(this.rng), remaining: this.uses };
    this.byClient.delete(clientKey);
    this.byClient.set(clientKey, fresh);
    if (this.byClient.size > this.maxClients) {
      const oldest = this.byClient.keys().next();
      if (!oldest.done) this.byClient.delete(oldest.value);
    }
    return fresh.nonce;
  }

  /** Consumes one use of `nonce` for this client: ok, stale (used up or replaced) or unknown. */
  use(clientKey: string, nonce: string): NonceCheck {
    const cur = this.byClient.get(clientKey);
    if (!cur) return 'unknown';
    if (cur.nonce !== nonce) return 'stale';
    if (cur.remaining <= 0) {
      this.byClient.delete(clientKey);
      return 'stale';
    }
    cur.remaining--;
    return 'ok';
  }

  forget(clientKey: string): void {
    this.byClient.delete(clientKey);
  }

  get size(): number {
    return this.byClient.size;
  }
}
