// Errors thrown by this package for misuse at construction time (bad keys, bad configuration).
// Packet processing never throws: it returns an `ErrorResult` with a `DropReason`.

export type WireGuardErrorCode = 'INVALID_KEY' | 'INVALID_CONFIG' | 'CRYPTO_BACKEND';

export class WireGuardError extends Error {
  constructor(
    readonly code: WireGuardErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'WireGuardError';
  }
}
