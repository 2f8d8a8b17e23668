// Our static key pair and everything derived from it once (whitepaper §5.4: mac1 and cookie keys, the
// responder's initial Noise hash). One per node, shared by all of its Tunns.
import type { CryptoBackend } from './crypto/backend';
import { cryptoBackend } from './crypto/openssl';
import { importPrivateKey, type X25519PrivateKey } from './crypto/x25519';
import { LABEL_COOKIE, LABEL_MAC1, initialChainingKey, initialHash } from './noise/protocol-name';

export class StaticIdentity {
  readonly privateKey: X25519PrivateKey;
  readonly publicKey: Uint8Array;
  /** HASH(LABEL_MAC1 || our public key): verifies MAC1 of messages sent to us. */
  readonly mac1Key: Uint8Array;
  /** HASH(LABEL_COOKIE || our public key): encrypts the cookie replies we send. */
  readonly cookieKey: Uint8Array;
  /** Noise chaining key and hash after mixing our public key (responder's starting point). */
  readonly responderChainingKey: Uint8Array;
  readonly responderHash: Uint8Array;

  constructor(
    privateKey: Uint8Array,
    readonly backend: CryptoBackend = cryptoBackend(),
  ) {
    this.privateKey = importPrivateKey(privateKey);
    this.publicKey = this.privateKey.publicKey;
    this.mac1Key = backend.hash(LABEL_MAC1, this.publicKey);
    this.cookieKey = backend.hash(LABEL_COOKIE, this.publicKey);
    this.responderChainingKey = initialChainingKey(backend);
    this.responderHash = backend.hash(initialHash(backend), this.publicKey);
  }
}
