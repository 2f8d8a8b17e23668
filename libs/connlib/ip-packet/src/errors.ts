/** Stable codes of every error this package returns or throws. */
export type IpPacketErrorCode =
  | 'EMPTY'
  | 'BAD_VERSION'
  | 'TOO_SHORT'
  | 'BAD_HEADER_LENGTH'
  | 'BAD_TOTAL_LENGTH'
  | 'BAD_EXTENSION_HEADER'
  | 'TRUNCATED_TRANSPORT'
  | 'NOT_P2P_CONTROL'
  | 'UNKNOWN_P2P_EVENT'
  | 'BAD_P2P_PAYLOAD'
  | 'FAMILY_MISMATCH'
  | 'PACKET_TOO_LARGE'
  | 'NO_TRANSPORT'
  | 'NOT_ICMP_ERROR';

/**
 * The one error class of `@postern/ip-packet`. Parsers *return* it (never throw on bad input);
 * builders throw it for programmer errors (mixed address families, oversized payloads).
 */
export class IpPacketError extends Error {
  override readonly name = 'IpPacketError';
  constructor(
    readonly code: IpPacketErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
