// @postern/relay-proto: the TURN server state machine (sans-IO) that apps/relay drives.
export { TurnServer } from './server';
export { resolveConfig, type ResolvedConfig, type TurnServerConfig } from './config';
export { RelayProtoError, type RelayProtoErrorCode } from './errors';
export { CredentialStore, NonceStore, firezonePassword, restPassword, splitFirezoneUsername, type Credential, type CredentialKind, type NonceCheck } from './auth';
export { PeerPolicy, cidrContains, parseCidr, type Cidr, type PeerPolicyOptions } from './peer-policy';
export { endpoint, type AuthFailure, type Endpoint, type Forward, type RelayMetrics, type Rng, type ServerEvent, type Source, type Transmit } from './types';
