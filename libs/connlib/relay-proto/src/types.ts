// Inputs and outputs of the sans-IO TURN server.
import type { TransportAddress } from '@postern/stun';

/** A transport address with a stable string key (`a.b.c.d:port` / `[v6]:port`): socket-factory's SocketAddr fits. */
export interface Endpoint extends TransportAddress {
  readonly key: string;
}

/** Builds an Endpoint (tests, shells without cached addresses). */
export function endpoint(address: string, port: number): Endpoint {
  const family = address.includes(':') ? 6 : 4;
  return { family, address, port, key: family === 6 ? `[${address}]:${port}` : `${address}:${port}` };
}

/** Injected randomness (workspace convention). */
export interface Rng {
  fill(bytes: Uint8Array): void;
  nextU32(): number;
}

/** Which socket a datagram leaves from: the listening socket, or the relayed socket of an allocation. */
export type Source = { readonly kind: 'main' } | { readonly kind: 'relay'; readonly family: 4 | 6; readonly port: number };

/** A datagram to send (STUN responses, DATA indications, SEND-indication payloads). */
export interface Transmit {
  readonly source: Source;
  readonly dst: Endpoint;
  readonly payload: Uint8Array;
}

/**
 * The data-path verdict: where to send `packet[start..end)`. One object is reused by the server for every
 * packet (no allocation): read it before the next call.
 * - client ChannelData -> peer: `toPeer` true; send from the relayed socket (`relayFamily`, `relayPort`) to `dst`.
 * - peer datagram -> client: `toPeer` false; frame the payload with a 4-byte ChannelData header for `channel`
 *   (`writeChannelDataHeader`) and send from the listening socket to `dst`.
 */
export interface Forward {
  toPeer: boolean;
  dst: Endpoint;
  channel: number;
  relayFamily: 4 | 6;
  relayPort: number;
  start: number;
  end: number;
}

/** Things the IO shell must act on or may log. */
export type ServerEvent =
  /** Bind the relayed socket(s) for this allocation: one per family, same port. */
  | { readonly type: 'allocation-created'; readonly port: number; readonly families: readonly (4 | 6)[]; readonly client: Endpoint; readonly username: string; readonly lifetimeSecs: number }
  /** Close the relayed socket(s). */
  | { readonly type: 'allocation-freed'; readonly port: number; readonly families: readonly (4 | 6)[]; readonly client: Endpoint; readonly reason: 'expired' | 'deleted' | 'replaced' | 'port-unavailable' }
  | { readonly type: 'channel-bound'; readonly port: number; readonly channel: number; readonly peer: Endpoint }
  | { readonly type: 'auth-failed'; readonly client: Endpoint; readonly reason: AuthFailure };

export type AuthFailure = 'missing-credentials' | 'unknown-user' | 'expired' | 'bad-integrity' | 'wrong-realm' | 'stale-nonce' | 'no-secret';

/** Counters for /metrics. Totals only grow; gauges are current values. */
export interface RelayMetrics {
  readonly allocations: number;
  readonly channels: number;
  readonly permissions: number;
  readonly allocationsCreated: number;
  readonly allocationsFreed: number;
  readonly authFailures: number;
  readonly requests: number;
  readonly errorResponses: number;
  readonly packetsClientToPeer: number;
  readonly bytesClientToPeer: number;
  readonly packetsPeerToClient: number;
  readonly bytesPeerToClient: number;
  readonly packetsDropped: number;
}
