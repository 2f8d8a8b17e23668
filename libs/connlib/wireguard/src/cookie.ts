// MAC1, MAC2 and cookie replies (whitepaper §5.4.4, §5.4.7). The sender side (CookieJar, one per Tunn)
// stamps MACs on the handshake messages it sends and keeps the cookie it was given; the receiver side
// (CookieChecker, one per node) verifies MACs and makes cookies from a secret rotated every two minutes.
import { COOKIE_REPLY_LEN, COOKIE_SECRET_MAX_AGE, MAC_LEN, MESSAGE_COOKIE_REPLY } from './constants';
import type { CryptoBackend } from './crypto/backend';
import { equalBytes } from './keys';
import { CookieReply, writeHeader, writeU32 } from './messages';
import type { Rng } from './rng';
import type { StaticIdentity } from './static-identity';

/** MACs sit at the end of handshake messages: mac1 then mac2. */
function macOffsets(msg: Uint8Array): { mac1: number; mac2: number } {
  return { mac1: msg.length - 2 * MAC_LEN, mac2: msg.length - MAC_LEN };
}

/** Sender side, per peer. */
export class CookieJar {
  private cookie: Uint8Array | null = null;
  private cookieAt = 0;
  /** MAC1 of the last handshake message sent: the AD of the cookie reply that may answer it. */
  private lastMac1: Uint8Array | null = null;

  constructor(
    private readonly backend: CryptoBackend,
    /** MAC1 and cookie keys of the peer (computed on use: see PeerKeys). */
    private readonly keys: { readonly mac1Key: Uint8Array; readonly cookieKey: Uint8Array },
  ) {}

  /** Writes MAC1 and MAC2 (zeros without a fresh cookie) into a handshake message about to be sent. */
  stamp(msg: Uint8Array, now: number): void {
    const { mac1, mac2 } = macOffsets(msg);
    const m1 = this.backend.mac(this.keys.mac1Key, msg.subarray(0, mac1));
    msg.set(m1, mac1);
    this.lastMac1 = m1;
    if (this.cookie !== null && now - this.cookieAt < COOKIE_SECRET_MAX_AGE) {
      msg.set(this.backend.mac(this.cookie, msg.subarray(0, mac2)), mac2);
    } else {
      msg.fill(0, mac2, mac2 + MAC_LEN);
    }
  }

  /** Takes the cookie out of a reply to our last message; false if it is not authentic. */
  consumeReply(msg: Uint8Array, now: number): boolean {
    if (this.lastMac1 === null || msg.length !== COOKIE_REPLY_LEN) return false;
    const nonce = msg.subarray(CookieReply.nonce, CookieReply.cookie);
    const cookie = this.backend.xopen(this.keys.cookieKey, nonce, this.lastMac1, msg.subarray(CookieReply.cookie));
    if (cookie === null) return false;
    this.cookie = cookie;
    this.cookieAt = now;
    this.lastMac1 = null;
    return true;
  }

  /** Whether a cookie reply could still be taken (a handshake message was sent and is not answered). */
  get awaitingReply(): boolean {
    return this.lastMac1 !== null;
  }

  /** The handshake completed: no cookie reply can answer it any more (frees the stored MAC1). */
  handshakeDone(): void {
    this.lastMac1 = null;
  }

  zero(): void {
    this.cookie?.fill(0);
    this.cookie = null;
    this.lastMac1 = null;
  }
}

/** Receiver side, per node. */
export class CookieChecker {
  private readonly secret = new Uint8Array(32);
  private secretAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly identity: StaticIdentity,
    private readonly rng: Rng,
  ) {}

  /** MAC1 = MAC(HASH(LABEL_MAC1 || S_ours^pub), msg up to mac1). */
  verifyMac1(msg: Uint8Array): boolean {
    const { mac1 } = macOffsets(msg);
    return equalBytes(this.identity.backend.mac(this.identity.mac1Key, msg.subarray(0, mac1)), msg.subarray(mac1, mac1 + MAC_LEN));
  }

  /** MAC2 = MAC(cookie(src), msg up to mac2). */
  verifyMac2(msg: Uint8Array, src: Uint8Array, now: number): boolean {
    const { mac2 } = macOffsets(msg);
    const cookie = this.cookieFor(src, now);
    return equalBytes(this.identity.backend.mac(cookie, msg.subarray(0, mac2)), msg.subarray(mac2, mac2 + MAC_LEN));
  }

  /** τ = MAC(R_m, A_m), R_m rotated every two minutes. */
  private cookieFor(src: Uint8Array, now: number): Uint8Array {
    if (now - this.secretAt >= COOKIE_SECRET_MAX_AGE) {
      this.rng.fill(this.secret);
      this.secretAt = now;
    }
    return this.identity.backend.mac(this.secret, src);
  }

  /** Writes a cookie reply to `msg` (sent from `src`, by sender `senderIndex`) into `out`; returns its length. */
  writeReply(msg: Uint8Array, senderIndex: number, src: Uint8Array, out: Uint8Array, now: number): number {
    const { mac1 } = macOffsets(msg);
    const nonce = new Uint8Array(24);
    this.rng.fill(nonce);
    const sealed = this.identity.backend.xseal(this.identity.cookieKey, nonce, msg.subarray(mac1, mac1 + MAC_LEN), this.cookieFor(src, now));
    writeHeader(out, MESSAGE_COOKIE_REPLY);
    writeU32(out, CookieReply.receiver, senderIndex);
    out.set(nonce, CookieReply.nonce);
    out.set(sealed, CookieReply.cookie);
    return COOKIE_REPLY_LEN;
  }
}
