export type TunErrorCode =
  | 'OPEN_FAILED'
  | 'IOCTL_FAILED'
  | 'INVALID_ARGUMENT'
  | 'CLOSED'
  | 'WORKER_FAILED';

/** Errors of the TUN device; `code` is stable, `cause` (and `errno` where a syscall failed) are kept. */
export class TunError extends Error {
  override readonly name = 'TunError';
  readonly errno: number | undefined;
  constructor(
    readonly code: TunErrorCode,
    message: string,
    options?: { cause?: unknown; errno?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.errno = options?.errno;
  }
}

/** Thrown by the Windows/macOS stubs: the interface exists, the implementation is Linux-only. */
export class UnsupportedPlatformError extends Error {
  override readonly name = 'UnsupportedPlatformError';
  readonly code = 'UNSUPPORTED_PLATFORM';
  constructor(
    readonly platform: string,
    what: string,
    options?: { cause?: unknown },
  ) {
    super(`${what} is not supported on ${platform} (Linux only)`, options);
  }
}
