// What a Tunn call asks its caller to do (boringtun's TunnResult). Result objects are reused by the Tunn
// that returned them (no allocation per packet): read them before the next call on the same Tunn.

/** Why an incoming or outgoing packet was dropped. Every reason has a counter in `TunnStats.drops`. */
export type DropReason =
  | 'truncated'
  | 'wrongType'
  | 'wrongSize'
  | 'unknownReceiverIndex'
  | 'invalidMac1'
  | 'invalidMac2'
  | 'invalidCookie'
  | 'decryptionFailed'
  | 'wrongPeer'
  | 'replayedTimestamp'
  | 'replayedCounter'
  | 'counterTooLarge'
  | 'handshakeRateLimited'
  | 'underLoad'
  | 'noCurrentSession'
  | 'sessionExpired'
  | 'invalidPacket'
  | 'bufferTooSmall'
  | 'unexpectedMessage'
  | 'connectionExpired';

export const DROP_REASONS: readonly DropReason[] = [
  'truncated',
  'wrongType',
  'wrongSize',
  'unknownReceiverIndex',
  'invalidMac1',
  'invalidMac2',
  'invalidCookie',
  'decryptionFailed',
  'wrongPeer',
  'replayedTimestamp',
  'replayedCounter',
  'counterTooLarge',
  'handshakeRateLimited',
  'underLoad',
  'noCurrentSession',
  'sessionExpired',
  'invalidPacket',
  'bufferTooSmall',
  'unexpectedMessage',
  'connectionExpired',
];

/** Nothing to do. */
export interface DoneResult {
  readonly kind: 'done';
}

/** Send `buffer[offset, offset + length)` to the peer's endpoint. */
export interface WriteToNetworkResult {
  readonly kind: 'writeToNetwork';
  readonly buffer: Uint8Array;
  readonly offset: number;
  readonly length: number;
}

/** Write the decrypted IP packet `buffer[offset, offset + length)` to the TUN device. */
export interface WriteToTunnelResult {
  readonly kind: 'writeToTunnelV4' | 'writeToTunnelV6';
  readonly buffer: Uint8Array;
  readonly offset: number;
  readonly length: number;
}

/** The packet was dropped (`reason`), or the connection expired (`connectionExpired`). */
export interface ErrorResult {
  readonly kind: 'error';
  readonly reason: DropReason;
}

export type TunnResult = DoneResult | WriteToNetworkResult | WriteToTunnelResult | ErrorResult;

/** Error results are immutable: one per reason for the whole process (a map per Tunn was ~1 KiB each). */
const ERRORS = new Map<DropReason, ErrorResult>(DROP_REASONS.map((r) => [r, Object.freeze({ kind: 'error', reason: r })]));

/** Mutable twins of the public results, owned and reused by one Tunn. */
/** The initial buffer of every Tunn's result slots (shared: a Tunn holds no byte buffers of its own while idle). */
const NO_BYTES = new Uint8Array(0);

export class ResultSlots {
  readonly done: DoneResult = { kind: 'done' };
  readonly network: { kind: 'writeToNetwork'; buffer: Uint8Array; offset: number; length: number } = {
    kind: 'writeToNetwork',
    buffer: NO_BYTES,
    offset: 0,
    length: 0,
  };
  readonly tunnel: { kind: 'writeToTunnelV4' | 'writeToTunnelV6'; buffer: Uint8Array; offset: number; length: number } = {
    kind: 'writeToTunnelV4',
    buffer: NO_BYTES,
    offset: 0,
    length: 0,
  };

  toNetwork(buffer: Uint8Array, offset: number, length: number): WriteToNetworkResult {
    const n = this.network;
    n.buffer = buffer;
    n.offset = offset;
    n.length = length;
    return n;
  }

  toTunnel(kind: 'writeToTunnelV4' | 'writeToTunnelV6', buffer: Uint8Array, offset: number, length: number): WriteToTunnelResult {
    const t = this.tunnel;
    t.kind = kind;
    t.buffer = buffer;
    t.offset = offset;
    t.length = length;
    return t;
  }

  error(reason: DropReason): ErrorResult {
    return ERRORS.get(reason) ?? { kind: 'error', reason };
  }
}
