export type SocketErrorCode =
  | 'SOCKET_FAILED'
  | 'BIND_FAILED'
  | 'SETSOCKOPT_FAILED'
  | 'SEND_FAILED'
  | 'RECV_FAILED'
  | 'INVALID_ADDRESS'
  | 'INVALID_ARGUMENT'
  | 'DATAGRAM_TOO_LARGE'
  | 'CLOSED'
  | 'WORKER_FAILED';

/** Errors of the UDP sockets; `code` is stable, `cause` (and `errno` where a syscall failed) are kept. */
export class SocketError extends Error {
  override readonly name = 'SocketError';
  readonly errno: number | undefined;
  constructor(
    readonly code: SocketErrorCode,
    message: string,
    options?: { cause?: unknown; errno?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.errno = options?.errno;
  }
}

/** Thrown by the Windows/macOS stubs of the batched backend. */
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
