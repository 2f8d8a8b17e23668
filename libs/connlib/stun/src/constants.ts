// STUN/TURN numbers: RFC 8489 (STUN), RFC 8656 (TURN), RFC 8445 (ICE), RFC 6156/8656 address families.

/** RFC 8489 §5: the fixed magic cookie in every message header. */
export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;
export const TRANSACTION_ID_LENGTH = 12;
/** XORed into the CRC-32 of FINGERPRINT (RFC 8489 §14.7). */
export const FINGERPRINT_XOR = 0x5354554e;

/** STUN methods (RFC 8489 §18.2, RFC 8656 §18). */
export const Method = {
  Binding: 0x001,
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
} as const;
export type MethodName = keyof typeof Method;

/** The class bits of a message type (RFC 8489 §5). */
export type StunClass = 'request' | 'indication' | 'success' | 'error';

/** Attribute type codes (RFC 8489 §18.3, RFC 8656 §18, RFC 8445 §16.1). */
export const AttrType = {
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  ChannelNumber: 0x000c,
  Lifetime: 0x000d,
  XorPeerAddress: 0x0012,
  Data: 0x0013,
  Realm: 0x0014,
  Nonce: 0x0015,
  XorRelayedAddress: 0x0016,
  RequestedAddressFamily: 0x0017,
  EvenPort: 0x0018,
  RequestedTransport: 0x0019,
  DontFragment: 0x001a,
  MessageIntegritySha256: 0x001c,
  XorMappedAddress: 0x0020,
  ReservationToken: 0x0022,
  Priority: 0x0024,
  UseCandidate: 0x0025,
  AdditionalAddressFamily: 0x8000,
  Software: 0x8022,
  Fingerprint: 0x8028,
  IceControlled: 0x8029,
  IceControlling: 0x802a,
} as const;

/** Error codes used by STUN/TURN (RFC 8489 §14.8, RFC 8656 §19). */
export const ErrorCode = {
  TryAlternate: 300,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  UnknownAttribute: 420,
  AllocationMismatch: 437,
  StaleNonce: 438,
  AddressFamilyNotSupported: 440,
  WrongCredentials: 441,
  UnsupportedTransportProtocol: 442,
  PeerAddressFamilyMismatch: 443,
  AllocationQuotaReached: 486,
  RoleConflict: 487,
  ServerError: 500,
  InsufficientCapacity: 508,
} as const;

/** Default reason phrases. */
export const ERROR_REASONS: Readonly<Record<number, string>> = {
  300: 'Try Alternate',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  486: 'Allocation Quota Reached',
  487: 'Role Conflict',
  500: 'Server Error',
  508: 'Insufficient Capacity',
};

/** REQUESTED-TRANSPORT protocol number for UDP. */
export const TRANSPORT_UDP = 17;

/** ChannelData (RFC 8656 §12): channel numbers 0x4000-0x4FFF, 4-byte header. */
export const CHANNEL_DATA_HEADER_LENGTH = 4;
export const FIRST_CHANNEL = 0x4000;
export const LAST_CHANNEL = 0x4fff;
/** RFC 5766 allowed 0x4000-0x7FFF; coturn's turnutils_uclient still picks numbers from that range. */
export const LAST_CHANNEL_RFC5766 = 0x7fff;
