// @postern/tunnel: ClientState and GatewayState (sans-IO), the building blocks the Tunnel event loop drives.
//
// Driving either state (the event loop):
//   for each TUN packet:      const t = state.handleTunPacket(pkt, now, out?)   -> send t if defined
//   for each UDP datagram:    const ip = state.handleNetworkDatagram(from, d, now) -> write ip to the TUN
//   for each portal message:  state.handlePortalMessage(parsedMessage, now)
//   when pollTimeout() <= now: state.handleTimeout(now)
//   then drain: pollTransmit() (send), pollTunWrite() (TUN), pollPortalMessage() (websocket), pollEvent().
// Returned views are valid until the next call on the same state; polled values are owned.
export { ClientState, REQUEST_AUTHORIZATION_INTERVAL_MS } from './client/state';
export { GatewayState } from './gateway/state';
export { FilterEngine } from './filter';
export { RouteTable, type Route } from './routing';
export { isForbiddenInternetDestination, PEER_RANGES, PROXY_RANGES, SENTINEL_RANGES, DEFAULT_ROUTES } from './ranges';
export type {
  StateConfig,
  ClientStateConfig,
  GatewayStateConfig,
  ClientEvent,
  GatewayEvent,
  ResourceView,
  TunConfig,
  DropCounters,
  ClientDnsHook,
  GatewayDnsHook,
  NetAddr,
  Transmit,
  Rng,
  DnsResourceRecord,
} from './types';
export { netAddr, parseNetAddr } from '@postern/snownet';
/** The process's crypto backend (its `name` says which transport AEAD runs: `openssl-direct` or `openssl-evp`). */
export { cryptoBackend } from '@postern/wireguard';
export { Tunnel, TunnelLoopError, type DrivenState, type PortalChannel, type PortalChannelEvent, type TunnelOptions, type TunnelStats } from './io';
export * from './io/session';
export { closeOnFailure, EarlyPortal, type EarlyPortalStats } from './early-portal';
