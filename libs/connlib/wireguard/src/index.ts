// @postern/wireguard: WireGuard (Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s) as a sans-IO state machine.
export * from './constants';
export { Tunn } from './tunn';
export type { TunnConfig, TunnStats } from './tunn-config';
export type { TunnResult, DoneResult, WriteToNetworkResult, WriteToTunnelResult, ErrorResult, DropReason } from './result';
export { DROP_REASONS } from './result';
export { StaticIdentity } from './static-identity';
export { RateLimiter, type RateLimiterOptions, type RateLimitVerdict } from './rate-limiter';
export { classifyDatagram, messageType, receiverIndexOf, peerSlotOf, type DatagramClass, type MessageKind } from './messages';
export { readInitiatorStaticKey } from './lookup';
export { generateKeyPair, publicKeyFromPrivate, clampPrivateKey, keyToBase64, keyFromBase64, equalBytes, type KeyPair } from './keys';
export { cryptoRng, type Rng } from './rng';
export { WireGuardError, type WireGuardErrorCode } from './errors';
export type { Aead, CryptoBackend } from './crypto/backend';
export { cryptoBackend, createOpenSslBackend, type OpenSslBackendOptions } from './crypto/openssl';
export { viewAddress, viewBase, viewOffset } from './crypto/native-memory';
export { ReplayWindow } from './replay-window';
export { tai64n, tai64nAfter } from './tai64n';
