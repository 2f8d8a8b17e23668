export type BufferPoolErrorCode = 'EXHAUSTED' | 'FOREIGN_BUFFER' | 'DOUBLE_RELEASE' | 'INVALID_ARGUMENT' | 'RING_FULL';

/** Errors of the buffer pool and the shared rings; `code` is stable, `cause` is kept. */
export class BufferPoolError extends Error {
  override readonly name = 'BufferPoolError';
  constructor(
    readonly code: BufferPoolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
