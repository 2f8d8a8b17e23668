// Configuration and counters of a Tunn.
import { WireGuardError } from './errors';
import type { RateLimiter } from './rate-limiter';
import { DROP_REASONS, type DropReason } from './result';
import type { Rng } from './rng';
import type { StaticIdentity } from './static-identity';

export interface TunnConfig {
  /** Our static key (one per node, shared by its Tunns). */
  readonly identity: StaticIdentity;
  readonly peerPublicKey: Uint8Array;
  readonly presharedKey?: Uint8Array;
  /** Seconds between keepalives while idle (wg's PersistentKeepalive); 0 or absent: off. */
  readonly persistentKeepalive?: number;
  /** This peer's slot, < 2^24: our receiver indices are `(index << 8) | n`, see `peerSlotOf`. */
  readonly index: number;
  readonly rng: Rng;
  /** Node-wide handshake limiter; a Tunn without one gets its own. */
  readonly rateLimiter?: RateLimiter;
  /**
   * Wall-clock milliseconds since the Unix epoch at `now = 0` (`Date.now() - performance.now()` in an
   * IO shell): TAI64N timestamps must grow across restarts. Default: taken from Date.now() once.
   */
  readonly wallClockAtZero?: number;
}

export interface TunnStats {
  txBytes: number;
  rxBytes: number;
  txPackets: number;
  rxPackets: number;
  handshakesCompleted: number;
  /** `now` of the last completed handshake. */
  lastHandshakeAt: number | undefined;
  readonly drops: Record<DropReason, number>;
}

export function validateConfig(config: TunnConfig): void {
  if (!Number.isInteger(config.index) || config.index < 0 || config.index >= 2 ** 24) {
    throw new WireGuardError('INVALID_CONFIG', 'index must be an integer in [0, 2^24)');
  }
  if (config.presharedKey !== undefined && config.presharedKey.length !== 32) {
    throw new WireGuardError('INVALID_KEY', 'preshared key must be 32 bytes');
  }
  if (config.peerPublicKey.length !== 32) throw new WireGuardError('INVALID_KEY', 'peer public key must be 32 bytes');
}

export function newStats(): TunnStats {
  const drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  return { txBytes: 0, rxBytes: 0, txPackets: 0, rxPackets: 0, handshakesCompleted: 0, lastHandshakeAt: undefined, drops };
}
