export type { Tun, TunCloseReport, TunOptions, TunStats } from './types';
export { TunError, UnsupportedPlatformError, type TunErrorCode } from './errors';
export { openTun, flowQueue } from './open';
