// Wire layout of the four WireGuard messages (whitepaper §5.4) and the classification a node that serves
// many peers needs before it knows which Tunn a datagram belongs to.
import {
  COOKIE_REPLY_LEN,
  DATA_OVERHEAD,
  HANDSHAKE_INITIATION_LEN,
  HANDSHAKE_RESPONSE_LEN,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_HANDSHAKE_INITIATION,
  MESSAGE_HANDSHAKE_RESPONSE,
  MESSAGE_TRANSPORT_DATA,
} from './constants';

/** Offsets inside a handshake initiation. */
export const Initiation = {
  sender: 4,
  ephemeral: 8,
  static: 40, // 32 + 16
  timestamp: 88, // 12 + 16
  mac1: 116,
  mac2: 132,
} as const;

/** Offsets inside a handshake response. */
export const Response = {
  sender: 4,
  receiver: 8,
  ephemeral: 12,
  empty: 44, // 0 + 16
  mac1: 60,
  mac2: 76,
} as const;

/** Offsets inside a cookie reply. */
export const CookieReply = {
  receiver: 4,
  nonce: 8, // 24
  cookie: 32, // 16 + 16
} as const;

export const DATA_RECEIVER_OFFSET = 4;
export const DATA_COUNTER_OFFSET = 8;

export function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at] ?? 0) | ((buf[at + 1] ?? 0) << 8) | ((buf[at + 2] ?? 0) << 16) | ((buf[at + 3] ?? 0) << 24)) >>> 0;
}

export function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value & 0xff;
  buf[at + 1] = (value >>> 8) & 0xff;
  buf[at + 2] = (value >>> 16) & 0xff;
  buf[at + 3] = (value >>> 24) & 0xff;
}

/** Writes the type byte and three reserved zero bytes. */
export function writeHeader(buf: Uint8Array, type: number): void {
  buf[0] = type;
  buf[1] = 0;
  buf[2] = 0;
  buf[3] = 0;
}

export type MessageKind = 'handshakeInitiation' | 'handshakeResponse' | 'cookieReply' | 'transportData';

/** What a datagram is, before any cryptography: the type and, except for initiations, our receiver index. */
export type DatagramClass =
  | { readonly kind: 'handshakeInitiation'; readonly senderIndex: number }
  | { readonly kind: 'handshakeResponse' | 'cookieReply' | 'transportData'; readonly receiverIndex: number }
  | { readonly kind: 'invalid' };

/**
 * The message type of a well-formed WireGuard datagram (1-4: type and size check only), or 0.
 * No allocation: use it on the fast path with `receiverIndexOf`.
 */
export function messageType(datagram: Uint8Array): number {
  if (datagram.length < 4 || datagram[1] !== 0 || datagram[2] !== 0 || datagram[3] !== 0) return 0;
  const type = datagram[0] ?? 0;
  switch (type) {
    case MESSAGE_HANDSHAKE_INITIATION:
      return datagram.length === HANDSHAKE_INITIATION_LEN ? type : 0;
    case MESSAGE_HANDSHAKE_RESPONSE:
      return datagram.length === HANDSHAKE_RESPONSE_LEN ? type : 0;
    case MESSAGE_COOKIE_REPLY:
      return datagram.length === COOKIE_REPLY_LEN ? type : 0;
    case MESSAGE_TRANSPORT_DATA:
      return datagram.length >= DATA_OVERHEAD ? type : 0;
    default:
      return 0;
  }
}

/** Our receiver index in a response, cookie reply or data message (bytes 4..8 for data/cookie, 8..12 for responses). */
export function receiverIndexOf(datagram: Uint8Array, type: number): number {
  return readU32(datagram, type === MESSAGE_HANDSHAKE_RESPONSE ? Response.receiver : DATA_RECEIVER_OFFSET);
}

export function classifyDatagram(datagram: Uint8Array): DatagramClass {
  const type = messageType(datagram);
  switch (type) {
    case MESSAGE_HANDSHAKE_INITIATION:
      return { kind: 'handshakeInitiation', senderIndex: readU32(datagram, Initiation.sender) };
    case MESSAGE_HANDSHAKE_RESPONSE:
      return { kind: 'handshakeResponse', receiverIndex: receiverIndexOf(datagram, type) };
    case MESSAGE_COOKIE_REPLY:
      return { kind: 'cookieReply', receiverIndex: receiverIndexOf(datagram, type) };
    case MESSAGE_TRANSPORT_DATA:
      return { kind: 'transportData', receiverIndex: receiverIndexOf(datagram, type) };
    default:
      return { kind: 'invalid' };
  }
}

/** The peer slot a Tunn was created with (`TunnConfig.index`), recovered from a receiver index. */
export function peerSlotOf(receiverIndex: number): number {
  return receiverIndex >>> 8;
}
