// Typed decode/encode errors with stable codes.

export type StunErrorCode =
  /** Empty input, or fewer bytes than a header / the declared length. */
  | 'TRUNCATED'
  /** The first two bits are not 0b00, or the magic cookie is wrong. */
  | 'NOT_STUN'
  /** Message length is not a multiple of 4 or disagrees with the buffer. */
  | 'BAD_LENGTH'
  /** An attribute runs past the end of the message. */
  | 'BAD_ATTRIBUTE_LENGTH'
  /** A known attribute has a malformed value (wrong size, bad family, bad UTF-8...). */
  | 'BAD_ATTRIBUTE'
  /** FINGERPRINT present but wrong, or not the last attribute. */
  | 'BAD_FINGERPRINT'
  /** ChannelData: first byte not 0x40-0x4F (channel outside 0x4000-0x4FFF). */
  | 'BAD_CHANNEL'
  /** Neither STUN nor ChannelData. */
  | 'UNKNOWN_MESSAGE_TYPE'
  /** encode: the value cannot be represented (too long, bad address...) or the output buffer is too small. */
  | 'ENCODE';

/** The header of a message whose body failed to decode: lets a server answer 400 to the right transaction. */
export interface StunHeader {
  readonly method: number;
  readonly cls: 'request' | 'indication' | 'success' | 'error';
  readonly transactionId: Uint8Array;
}

export class StunError extends Error {
  override readonly name = 'StunError';
  readonly code: StunErrorCode;
  /** Set when the 20-byte header was valid but an attribute was not. */
  readonly header: StunHeader | undefined;
  /** The attribute type that failed to decode, if any. */
  readonly attributeType: number | undefined;

  constructor(
    code: StunErrorCode,
    message: string,
    options: { cause?: unknown; header?: StunHeader; attributeType?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.header = options.header;
    this.attributeType = options.attributeType;
  }
}
