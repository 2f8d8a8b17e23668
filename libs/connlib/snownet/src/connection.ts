// One peer of a Node: its WireGuard Tunn, the remote address in use and the candidates the peer offered.
// The NAT-traversal work replaces `remote` selection with an ICE agent; the Node's API stays the same.
import { Tunn, type RateLimiter, type Rng, type StaticIdentity } from '@postern/wireguard';
import type { NetAddr } from './addr';
import type { Candidate } from './candidate';
import type { CandidatePair, IceAgent, LocalCandidate } from './ice';
import type { ConnectionParams, PeerId } from './types';

/** Where WireGuard datagrams of a connection go: from `local` (a host socket or our relay) to `addr`. */
export interface WgPath {
  readonly local: LocalCandidate;
  readonly addr: NetAddr;
  readonly relayed: boolean;
}

export interface ConnectionDeps {
  readonly identity: StaticIdentity;
  readonly limiter: RateLimiter;
  readonly rng: Rng;
  readonly wallClockAtZero: number | undefined;
}

export class Connection {
  tunn: Tunn;
  slot: number;
  remote: NetAddr | undefined;
  readonly remoteCandidates: Candidate[] = [];
  /** A session has been reported up (`connected` event) since the last failure/reset. */
  connected = false;
  /** When the current attempt to connect began (client: first initiation; gateway: creation). */
  connectingSince: number | undefined;
  lastReceivedAt: number;
  /** The ICE agent (when both ICE credentials were given and no explicit remote). */
  ice: IceAgent | undefined = undefined;
  /** ICE connections before nomination: where the peer's WireGuard came from (the peer runs no ICE). */
  fallback: WgPath | undefined = undefined;
  /** The path in use (selected pair or fallback), cached. */
  path: WgPath | undefined = undefined;
  /** Last WireGuard datagram sent (data path), for the quiet-peer probe. */
  lastSentAt = Number.NEGATIVE_INFINITY;
  relayedTxBytes = 0;
  relayedRxBytes = 0;
  pathChanges = 0;
  /** The relay whose candidates this connection offers (Firezone: one sampled per connection and side). */
  relayId: string | undefined = undefined;
  /** Times the connection moved to another relay. */
  relayMigrations = 0;
  /** Client, nothing selected yet: the pair being nominated, which WireGuard already uses (its handshake follows the check). */
  earlyPair: CandidatePair | undefined = undefined;


  constructor(
    readonly peerId: PeerId,
    public params: ConnectionParams,
    slot: number,
    private readonly deps: ConnectionDeps,
    now: number,
  ) {
    this.slot = slot;
    this.tunn = this.newTunn(slot);
    this.remote = params.remote;
    this.lastReceivedAt = now;
    this.connectingSince = now;
  }

  newTunn(slot: number): Tunn {
    const { identity, limiter, rng, wallClockAtZero } = this.deps;
    return new Tunn({
      identity,
      peerPublicKey: this.params.publicKey,
      presharedKey: this.params.presharedKey,
      index: slot,
      rng,
      rateLimiter: limiter,
      ...(wallClockAtZero === undefined ? {} : { wallClockAtZero }),
    });
  }

  /** Fresh WireGuard state under a new slot (network change): no session until the next handshake. */
  renew(slot: number, now: number): void {
    this.tunn.dispose();
    this.slot = slot;
    this.tunn = this.newTunn(slot);
    this.connected = false;
    this.connectingSince = now;
    this.lastReceivedAt = now;
  }

  /** The best host candidate offered by the peer (highest priority), if any. */
  bestHostCandidate(): Candidate | undefined {
    let best: Candidate | undefined;
    for (const c of this.remoteCandidates) {
      if (c.type === 'host' && (best === undefined || c.priority > best.priority)) best = c;
    }
    return best;
  }
}
