// Windows and macOS: the same interface, no implementation yet (Linux is the only real platform).
import { UnsupportedPlatformError } from './errors';
import type { Tun } from './types';

export function openUnsupportedTun(platform: 'win32' | 'darwin'): Promise<Tun> {
  const what = platform === 'win32' ? 'TUN device (Wintun)' : 'TUN device (utun)';
  return Promise.reject(new UnsupportedPlatformError(platform, what));
}
