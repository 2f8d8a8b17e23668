import { UnsupportedPlatformError } from './errors';
import { openLinuxTun } from './linux-tun';
import type { Tun, TunOptions } from './types';
import { openUnsupportedTun } from './unsupported';

/** Opens (creating if needed) a TUN device. Linux only; other platforms reject with UNSUPPORTED_PLATFORM. */
export async function openTun(options: TunOptions = {}): Promise<Tun> {
  if (process.platform === 'linux') return openLinuxTun(options);
  if (process.platform === 'win32' || process.platform === 'darwin') return openUnsupportedTun(process.platform);
  throw new UnsupportedPlatformError(process.platform, 'TUN device');
}

export { flowQueue } from './flow';
