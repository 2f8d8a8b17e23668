export type TelemetryErrorCode = 'INVALID_DSN' | 'TELEMETRY_START_FAILED';

export class TelemetryError extends Error {
  override readonly name = 'TelemetryError';
  constructor(
    readonly code: TelemetryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
