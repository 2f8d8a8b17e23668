// @postern/snownet: a sans-IO node holding one WireGuard connection per peer (Firezone snownet `Node`).
// First version: peers are reached at their host candidates (or an explicit address); the ICE agent and
// TURN allocations come behind the same API.
export { Node, TIMER_INTERVAL_MS } from './node';
export { type NetAddr, netAddr, parseNetAddr } from './addr';
export { type Candidate, type CandidateType, parseCandidate, formatHostCandidate, hostCandidatePriority } from './candidate';
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
  Rng,
} from './types';
