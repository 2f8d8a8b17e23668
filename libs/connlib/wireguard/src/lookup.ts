// For a node that serves many peers: which Tunn does a datagram belong to? Data, responses and cookie
// replies carry our receiver index (`peerSlotOf`); an initiation names its sender only inside the
// encryption, so the initiator's static key is decrypted with our static private key.
import { consumeInitiationStatic } from './noise/handshake';
import { MESSAGE_HANDSHAKE_INITIATION } from './constants';
import { messageType } from './messages';
import type { RateLimiter } from './rate-limiter';
import type { StaticIdentity } from './static-identity';

/**
 * The initiator's static public key from a handshake initiation, or null if the datagram is not an
 * initiation to us (wrong size or type, bad MAC1, not decryptable). Costs one X25519. When `limiter` is
 * given, MAC1 is checked first so that garbage costs no DH.
 */
export function readInitiatorStaticKey(datagram: Uint8Array, identity: StaticIdentity, limiter?: RateLimiter): Uint8Array | null {
  if (messageType(datagram) !== MESSAGE_HANDSHAKE_INITIATION) return null;
  if (limiter !== undefined && !limiter.checker.verifyMac1(datagram)) return null;
  return consumeInitiationStatic(identity, datagram)?.initiatorStatic ?? null;
}
