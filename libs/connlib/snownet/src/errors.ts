// Errors of @postern/snownet: a stable `code` and the `cause`.
export type SnownetErrorCode = 'INVALID_KEY' | 'UNKNOWN_PEER' | 'INVALID_CONFIG';

export class SnownetError extends Error {
  override readonly name = 'SnownetError';
  constructor(
    readonly code: SnownetErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
