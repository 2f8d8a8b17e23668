// Public value types of a snownet Node: configuration, transmits, events and results.
import type { DropReason, Rng } from '@postern/wireguard';
import type { NetAddr } from './addr';

export type { Rng };

/** Gateway id (on a client) or client id (on a gateway). */
export type PeerId = string;

export type NodeRole = 'client' | 'gateway';

export interface IceCredentials {
  readonly username: string;
  readonly password: string;
}

export interface NodeConfig {
  /** `client` initiates (ICE controlling, WireGuard initiator); `gateway` answers. */
  readonly role: NodeRole;
  /** Our static X25519 private key (32 bytes). */
  readonly privateKey: Uint8Array;
  readonly rng: Rng;
  /** Wall-clock ms at `now = 0` (for TAI64N timestamps); default Date.now() once, see TunnConfig. */
  readonly wallClockAtZero?: number;
  /** Seconds between keepalives on an idle connection; default 5 (Firezone keeps paths warm). 0: off. */
  readonly persistentKeepalive?: number;
  /** A connection that received nothing for this long (ms) is failed; default 15 000. */
  readonly idleTimeout?: number;
  /** A connection whose first handshake has not completed after this long (ms) is failed; default 10 000. */
  readonly handshakeTimeout?: number;
}

/** What the portal hands over for one peer (authorization messages). */
export interface ConnectionParams {
  /** The peer's static public key (32 bytes). */
  readonly publicKey: Uint8Array;
  /** The per-connection preshared key the portal derived (32 bytes). */
  readonly presharedKey: Uint8Array;
  /** ICE credentials: ours and the peer's (carried for the ICE agent; unused by the host-candidate path). */
  readonly localIceCredentials?: IceCredentials;
  readonly remoteIceCredentials?: IceCredentials;
  /** The peer's address if already known (skips candidates). */
  readonly remote?: NetAddr;
}

export type UpsertOutcome = 'created' | 'unchanged' | 'replaced';

/**
 * A datagram to send. `payload` is a view: for `encapsulate` results into the caller's `out` buffer (or the
 * node's scratch buffer, valid until the next call); from `pollTransmit` an owned copy.
 */
export interface Transmit {
  /** Local address to send from, when it matters (unset: any socket of the right family). */
  readonly src: NetAddr | undefined;
  readonly dst: NetAddr;
  readonly payload: Uint8Array;
}

export type NodeEvent =
  /** The first WireGuard session with the peer is up (again, after a failure or a reset). */
  | { readonly type: 'connected'; readonly peerId: PeerId }
  /** The connection gave up (handshake timeout, idle timeout, WireGuard expiry); it was removed. */
  | { readonly type: 'failed'; readonly peerId: PeerId; readonly reason: ConnectionFailure }
  /** `removeConnection` or `close` removed it. */
  | { readonly type: 'closed'; readonly peerId: PeerId }
  /** A local candidate to signal to the peer through the portal. */
  | { readonly type: 'newIceCandidate'; readonly peerId: PeerId; readonly candidate: string }
  /** A local candidate the peer should forget. */
  | { readonly type: 'invalidatedIceCandidate'; readonly peerId: PeerId; readonly candidate: string };

export type ConnectionFailure = 'handshakeTimeout' | 'idleTimeout' | 'wireguardExpired';

/** Why `encapsulate` produced nothing to send right now. */
export type EncapsulateDrop =
  /** No connection for the peer. */
  | 'unknownPeer'
  /** The peer's address is not known yet (no candidate); the packet is queued in the Tunn. */
  | 'noRemote'
  /** No session yet: the packet is queued, a handshake is (or was recently) sent. */
  | 'queued'
  /** WireGuard refused (buffer too small, ...). */
  | DropReason;

export type EncapsulateResult =
  | { readonly kind: 'transmit'; readonly transmit: Transmit }
  | { readonly kind: 'drop'; readonly reason: EncapsulateDrop };

export type DecapsulateDrop =
  /** No connection matches (unknown receiver index or initiator key). */
  | 'unknownPeer'
  /** Neither WireGuard nor STUN / ChannelData. */
  | 'notWireGuard'
  /** A STUN message no connection or allocation accepted (unknown USERNAME, bad MESSAGE-INTEGRITY, stray answer). */
  | 'unknownStun'
  | DropReason;

export type DecapsulateResult =
  /** A decrypted IP packet (a view of the datagram, decrypted in place). */
  | { readonly kind: 'packet'; readonly peerId: PeerId; readonly packet: Uint8Array }
  /**
   * A handshake, keepalive, ICE check or TURN message was consumed; answers (if any) wait in `pollTransmit`.
   * `peerId` is undefined for traffic of a relay allocation (no connection involved).
   */
  | { readonly kind: 'handled'; readonly peerId: PeerId | undefined }
  | { readonly kind: 'drop'; readonly reason: DecapsulateDrop; readonly peerId: PeerId | undefined };

/** How WireGuard traffic of a connection travels: the kind of the pair in use. */
export type PathKind = 'host' | 'srflx' | 'relay';

export interface ConnectionStats {
  readonly peerId: PeerId;
  /** Where WireGuard datagrams go: the peer's address, or the relay's address when we send through our allocation. */
  readonly remote: NetAddr | undefined;
  readonly connected: boolean;
  readonly txBytes: number;
  readonly rxBytes: number;
  readonly handshakesCompleted: number;
  /** The connection runs ICE (both ICE credentials were given and no explicit `remote`). */
  readonly ice: boolean;
  /**
   * Kind of the pair in use: `relay` if either side is a relayed candidate, `srflx` if the peer's side is
   * server- or peer-reflexive, else `host`; undefined while no pair is nominated.
   */
  readonly path: PathKind | undefined;
  /** The pair in use: our candidate (`host 1.2.3.4:5`, `relay ...`) and the peer's. */
  readonly localCandidate: string | undefined;
  readonly remoteCandidate: string | undefined;
  /** WireGuard bytes (datagram lengths) sent and received over relayed pairs. */
  readonly relayedTxBytes: number;
  readonly relayedRxBytes: number;
  /** Times the nominated pair changed (first nomination included). */
  readonly pathChanges: number;
  /** The relay this side offers relayed candidates of (one per connection, sampled); undefined without relays. */
  readonly relayId: string | undefined;
  /** Times the connection moved to another relay (its relay was removed, failed or stopped answering). */
  readonly relayMigrations: number;
}

/**
 * A TURN relay as the portal describes it (`init.relays`, `relays_presence.connected`; the portal sends one
 * entry per address family with the same id: `relayInfosFromPortal` merges them).
 */
export interface RelayInfo {
  readonly id: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** Default `firezone`. */
  readonly realm?: string;
}

/** What `Node.relayStats` reports per allocation. */
export interface RelayStats {
  readonly relayId: string;
  readonly state: 'binding' | 'allocating' | 'allocated' | 'failed' | 'closed';
  readonly server: NetAddr | undefined;
  readonly relayed: readonly NetAddr[];
  readonly mapped: readonly NetAddr[];
  readonly relayedTxBytes: number;
  readonly relayedRxBytes: number;
  readonly rttMs: number | undefined;
}
