// Protocol constants of the WireGuard whitepaper (§5.4, §6.1) and the wire sizes of its messages.

/** Message types (first byte of every message, followed by three reserved zero bytes). */
export const MESSAGE_HANDSHAKE_INITIATION = 1;
export const MESSAGE_HANDSHAKE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT_DATA = 4;

export const HANDSHAKE_INITIATION_LEN = 148;
export const HANDSHAKE_RESPONSE_LEN = 92;
export const COOKIE_REPLY_LEN = 64;
/** type(4) + receiver(4) + counter(8). */
export const DATA_HEADER_LEN = 16;
export const DATA_TAG_LEN = 16;
/** Bytes a transport data message adds to a padded IP packet. */
export const DATA_OVERHEAD = DATA_HEADER_LEN + DATA_TAG_LEN;
/** A keepalive is an empty transport data message. */
export const KEEPALIVE_LEN = DATA_OVERHEAD;
/** Plaintext is padded to a multiple of this (§5.4.6). */
export const PADDING_MULTIPLE = 16;

export const KEY_LEN = 32;
export const MAC_LEN = 16;

/** Timers and limits (whitepaper §6.1), in milliseconds or messages. */
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/**
 * 2^64 - 2^13 - 1 in the whitepaper; counters are JS numbers here (exact below 2^53, which takes decades
 * to reach at 10 Mpps), so the limit is clamped to the largest exact integer.
 */
export const REJECT_AFTER_MESSAGES = Number.MAX_SAFE_INTEGER - 2 ** 13;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
/** Upper bound of the random jitter added to REKEY_TIMEOUT. */
export const REKEY_TIMEOUT_JITTER_MAX = 333;
export const KEEPALIVE_TIMEOUT = 10_000;
/** Keys and handshake state are zeroed after this long without a new handshake. */
export const KEY_ZEROING_TIME = 3 * REJECT_AFTER_TIME;
/** Cookie secrets rotate (and cookies expire) every two minutes (§5.4.7). */
export const COOKIE_SECRET_MAX_AGE = 120_000;
/** Per-peer: at most one accepted initiation per this interval (wireguard-go: 50/s). */
export const HANDSHAKE_INITIATION_MIN_INTERVAL = 20;

/** Anti-replay window (RFC 6479 style): bits kept behind the highest counter seen. */
export const REPLAY_WINDOW_SIZE = 8192;
/** Packets queued while no session exists. */
export const MAX_QUEUED_PACKETS = 128;
