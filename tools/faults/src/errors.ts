export type FaultsErrorCode = 'PROC_PARSE' | 'PROC_GONE' | 'TOO_FEW_SAMPLES';

export class FaultsError extends Error {
  override readonly name = 'FaultsError';
  constructor(
    readonly code: FaultsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
