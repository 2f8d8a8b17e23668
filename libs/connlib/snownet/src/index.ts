// @postern/snownet: a sans-IO node holding one WireGuard connection per peer (Firezone snownet `Node`), an
// ICE agent per connection and a TURN client allocation per relay.
export { Node, TIMER_INTERVAL_MS, ALLOCATION_RETRY_MS } from './node';
export { type NetAddr, netAddr, parseNetAddr } from './addr';
export {
  type Candidate,
  type CandidateType,
  parseCandidate,
  formatCandidate,
  formatHostCandidate,
  hostCandidatePriority,
  candidatePriority,
  TYPE_PREFERENCE,
} from './candidate';
export {
  Allocation,
  type AllocationEvent,
  type AllocationFailure,
  type AllocationInput,
  type AllocationState,
  type AllocationTransmit,
  CHANNEL_REFRESH_MS,
  KEEPALIVE_INTERVAL_MS,
  PERMISSION_REFRESH_MS,
  REQUEST_INITIAL_RTO_MS,
  REQUEST_MAX_ELAPSED_MS,
} from './allocation';
export {
  IceAgent,
  pairPriority,
  type CandidatePair,
  type IceTransmit,
  type LocalCandidate,
  type LocalKind,
  type PairState,
  type RemoteCandidate,
  CHECK_MAX_SENDS,
  KEEPALIVE_CHECK_MS,
  NOMINATION_DELAY_MS,
  RELAYED_NOMINATION_GRACE_MS,
  ROLE_CONFLICT_MAX,
  QUIET_PROBE_MS,
  SELECTED_MAX_SENDS,
} from './ice';
export { relayInfosFromPortal, type PortalRelay } from './relays';
export { SnownetError, type SnownetErrorCode } from './errors';
export type {
  PeerId,
  NodeRole,
  NodeConfig,
  IceCredentials,
  ConnectionParams,
  UpsertOutcome,
  Transmit,
  NodeEvent,
  ConnectionFailure,
  EncapsulateDrop,
  EncapsulateResult,
  DecapsulateDrop,
  DecapsulateResult,
  ConnectionStats,
  PathKind,
  RelayInfo,
  RelayStats,
  Rng,
} from './types';
