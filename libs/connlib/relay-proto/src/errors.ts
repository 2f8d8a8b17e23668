export type RelayProtoErrorCode = 'BAD_CONFIG';

export class RelayProtoError extends Error {
  override readonly name = 'RelayProtoError';
  constructor(
    readonly code: RelayProtoErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
