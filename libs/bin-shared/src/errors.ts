// Errors of @postern/bin-shared. Every error has a stable `code` (callers branch on it, telemetry groups by
// it) and keeps its `cause`.

export type BinSharedErrorCode =
  | 'UNSUPPORTED_PLATFORM'
  | 'KNOWN_DIR_UNAVAILABLE'
  | 'DEVICE_ID_INVALID'
  | 'DEVICE_ID_IO'
  | 'DNS_CONTROL_FAILED'
  | 'DNS_CONTROL_INVALID_METHOD'
  | 'NETLINK_FAILED'
  | 'NETWORK_NOTIFIER_FAILED'
  | 'MISSING_CAPABILITY'
  | 'HEALTH_CHECK_BIND';

export class BinSharedError extends Error {
  override readonly name: string = 'BinSharedError';
  constructor(
    readonly code: BinSharedErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A platform (Windows, macOS) where the module has the interface but no implementation yet. */
export class UnsupportedPlatformError extends BinSharedError {
  override readonly name = 'UnsupportedPlatformError';
  constructor(
    readonly feature: string,
    readonly platform: string = process.platform,
  ) {
    super('UNSUPPORTED_PLATFORM', `${feature} is not supported on ${platform} yet`);
  }
}

/** A netlink request the kernel refused; `errno` is positive (EEXIST = 17), `operation` names the request. */
export class NetlinkError extends BinSharedError {
  override readonly name = 'NetlinkError';
  constructor(
    readonly operation: string,
    readonly errno: number,
    options?: { cause?: unknown },
  ) {
    super('NETLINK_FAILED', `${operation} failed: ${errnoName(errno)} (errno ${errno})`, options);
  }
}

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM',
  2: 'ENOENT',
  3: 'ESRCH',
  11: 'EAGAIN',
  13: 'EACCES',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  93: 'EPROTONOSUPPORT',
  95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT',
  101: 'ENETUNREACH',
  105: 'ENOBUFS',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno${errno}`;
}

/** Throws UnsupportedPlatformError unless running on Linux. */
export function assertLinux(feature: string): void {
  if (process.platform !== 'linux') throw new UnsupportedPlatformError(feature);
}
