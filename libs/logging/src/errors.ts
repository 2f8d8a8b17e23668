export type LoggingErrorCode = 'INVALID_LOG_FILTER' | 'INVALID_LOG_FORMAT' | 'LOG_FILE_FAILED';

export class LoggingError extends Error {
  override readonly name: string = 'LoggingError';
  constructor(
    readonly code: LoggingErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An invalid `--log-filter` / POSTERN_LOG value; `directive` is the offending part. */
export class LogFilterError extends LoggingError {
  override readonly name = 'LogFilterError';
  constructor(
    readonly directive: string,
    reason: string,
  ) {
    super('INVALID_LOG_FILTER', `invalid log filter directive "${directive}": ${reason}`);
  }
}
