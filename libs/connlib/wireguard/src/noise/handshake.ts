// The Noise_IKpsk2 handshake messages of WireGuard (whitepaper §5.4.2, §5.4.3) as pure functions over a
// SymmetricState. MAC1/MAC2 are added by the caller (cookie.ts); sessions are built from `split`.
import type { KeyObject } from 'node:crypto';
import { dh, dhRaw, importPublicKey, type X25519PrivateKey } from '../crypto/x25519';
import { HANDSHAKE_INITIATION_LEN, HANDSHAKE_RESPONSE_LEN, MESSAGE_HANDSHAKE_INITIATION, MESSAGE_HANDSHAKE_RESPONSE } from '../constants';
import { Initiation, Response, readU32, writeHeader, writeU32 } from '../messages';
import type { StaticIdentity } from '../static-identity';
import { LABEL_COOKIE, LABEL_MAC1, initialChainingKey, initialHash } from './protocol-name';
import { SymmetricState } from './symmetric-state';

const ZERO_PSK = new Uint8Array(32);

/** The remote static key and what is derived from it once per peer. */
export class PeerKeys {
  /** DH(S_ours^priv, S_peer^pub), computed once (wireguard-go's precomputedStaticStatic). */
  readonly staticStatic: Uint8Array | null;
  presharedKey: Uint8Array;

  constructor(
    readonly identity: StaticIdentity,
    readonly publicKey: Uint8Array,
    presharedKey: Uint8Array | undefined,
  ) {
    this.staticStatic = dh(identity.privateKey, importPublicKey(publicKey));
    this.presharedKey = presharedKey ?? ZERO_PSK;
  }

  // The keys below are used once per handshake message or cookie reply (rare: every two minutes per peer), so
  // they are hashed on use rather than kept: three 32-byte arrays per idle peer less (issue 11).

  /** HASH(LABEL_MAC1 || peer public key): MAC1 of messages we send to this peer. */
  get mac1Key(): Uint8Array {
    return this.identity.backend.hash(LABEL_MAC1, this.publicKey);
  }

  /** HASH(LABEL_COOKIE || peer public key): decrypts cookie replies from this peer. */
  get cookieKey(): Uint8Array {
    return this.identity.backend.hash(LABEL_COOKIE, this.publicKey);
  }

  /** Initiator's starting hash, H = HASH(HASH(C || IDENTIFIER) || S_r^pub). */
  get initiatorHash(): Uint8Array {
    const b = this.identity.backend;
    return b.hash(initialHash(b), this.publicKey);
  }

  /**
   * The peer's static key as a KeyObject, imported per handshake rather than kept: an imported key holds
   * ~0.5 KiB of native memory per peer, and handshakes are rare (every 2 minutes per peer).
   */
  get publicKeyObject(): KeyObject {
    return importPublicKey(this.publicKey);
  }
}

/** The initiator's state between sending an initiation and receiving the response. */
export interface InitiatorHandshake {
  readonly localIndex: number;
  readonly ephemeral: X25519PrivateKey;
  readonly state: SymmetricState;
}

/** Writes type, sender, ephemeral, static and timestamp of an initiation into `out` (148 bytes). */
export function createInitiation(
  peer: PeerKeys,
  localIndex: number,
  ephemeral: X25519PrivateKey,
  timestamp: Uint8Array,
  out: Uint8Array,
): InitiatorHandshake | null {
  const b = peer.identity.backend;
  if (peer.staticStatic === null) return null;
  const s = new SymmetricState(b, initialChainingKey(b), peer.initiatorHash);
  writeHeader(out, MESSAGE_HANDSHAKE_INITIATION);
  writeU32(out, Initiation.sender, localIndex);
  out.set(ephemeral.publicKey, Initiation.ephemeral);
  s.mixKey(ephemeral.publicKey); // C = Kdf1(C, E_i^pub)
  s.mixHash(ephemeral.publicKey);
  const es = dh(ephemeral, peer.publicKeyObject);
  if (es === null) return null;
  s.mixKey(es);
  out.set(s.encryptAndHash(peer.identity.publicKey), Initiation.static);
  s.mixKey(peer.staticStatic);
  out.set(s.encryptAndHash(timestamp), Initiation.timestamp);
  return { localIndex, ephemeral, state: s };
}

/** What the responder learns from an initiation before it knows which peer sent it. */
export interface ConsumedStatic {
  readonly senderIndex: number;
  readonly ephemeralPublic: Uint8Array;
  readonly initiatorStatic: Uint8Array;
  readonly state: SymmetricState;
}

/** Decrypts the initiator's static key (needs only our private key); null if not authentic. */
export function consumeInitiationStatic(identity: StaticIdentity, msg: Uint8Array): ConsumedStatic | null {
  if (msg.length !== HANDSHAKE_INITIATION_LEN || msg[0] !== MESSAGE_HANDSHAKE_INITIATION) return null;
  const b = identity.backend;
  const s = new SymmetricState(b, initialChainingKey(b), identity.responderHash);
  const ephemeralPublic = msg.slice(Initiation.ephemeral, Initiation.ephemeral + 32);
  s.mixKey(ephemeralPublic);
  s.mixHash(ephemeralPublic);
  const es = dhRaw(identity.privateKey, ephemeralPublic);
  if (es === null) return null;
  s.mixKey(es);
  const initiatorStatic = s.decryptAndHash(msg.subarray(Initiation.static, Initiation.timestamp));
  if (initiatorStatic === null) return null;
  return { senderIndex: readU32(msg, Initiation.sender), ephemeralPublic, initiatorStatic, state: s };
}

/** Decrypts the timestamp with the static-static DH of the now-known peer; null if not authentic. */
export function consumeInitiationTimestamp(peer: PeerKeys, consumed: ConsumedStatic, msg: Uint8Array): Uint8Array | null {
  if (peer.staticStatic === null) return null;
  consumed.state.mixKey(peer.staticStatic);
  return consumed.state.decryptAndHash(msg.subarray(Initiation.timestamp, Initiation.mac1));
}

/** Writes a response (without MACs) into `out` (92 bytes); returns (send, receive) keys of the responder. */
export function createResponse(
  peer: PeerKeys,
  consumed: ConsumedStatic,
  localIndex: number,
  ephemeral: X25519PrivateKey,
  out: Uint8Array,
): { send: Uint8Array; receive: Uint8Array } | null {
  const s = consumed.state;
  writeHeader(out, MESSAGE_HANDSHAKE_RESPONSE);
  writeU32(out, Response.sender, localIndex);
  writeU32(out, Response.receiver, consumed.senderIndex);
  out.set(ephemeral.publicKey, Response.ephemeral);
  s.mixKey(ephemeral.publicKey);
  s.mixHash(ephemeral.publicKey);
  const ee = dhRaw(ephemeral, consumed.ephemeralPublic);
  const se = dh(ephemeral, peer.publicKeyObject);
  if (ee === null || se === null) return null;
  s.mixKey(ee);
  s.mixKey(se);
  s.mixKeyAndHash(peer.presharedKey);
  out.set(s.encryptAndHash(new Uint8Array(0)), Response.empty);
  const [initiatorSend, initiatorReceive] = s.split();
  s.zero();
  return { send: initiatorReceive, receive: initiatorSend };
}

/** Consumes a response to our initiation; returns (send, receive) keys of the initiator. */
export function consumeResponse(peer: PeerKeys, hs: InitiatorHandshake, msg: Uint8Array): { send: Uint8Array; receive: Uint8Array; peerIndex: number } | null {
  if (msg.length !== HANDSHAKE_RESPONSE_LEN) return null;
  const s = hs.state.clone();
  const ephemeralPublic = msg.slice(Response.ephemeral, Response.ephemeral + 32);
  s.mixKey(ephemeralPublic);
  s.mixHash(ephemeralPublic);
  let theirs: KeyObject;
  try {
    theirs = importPublicKey(ephemeralPublic);
  } catch {
    return null;
  }
  const ee = dh(hs.ephemeral, theirs);
  const se = dh(peer.identity.privateKey, theirs);
  if (ee === null || se === null) return null;
  s.mixKey(ee);
  s.mixKey(se);
  s.mixKeyAndHash(peer.presharedKey);
  if (s.decryptAndHash(msg.subarray(Response.empty, Response.mac1)) === null) return null;
  const [send, receive] = s.split();
  s.zero();
  return { send, receive, peerIndex: readU32(msg, Response.sender) };
}
