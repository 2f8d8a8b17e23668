// glibc through koffi, for the platform glue that calls it directly (process_memory, scheduling).
import koffi from 'koffi';
import { UnsupportedPlatformError } from './errors';

/** glibc (`libc.so.6`); UnsupportedPlatformError (UNSUPPORTED_PLATFORM) naming `feature` where there is none (musl). */
export function loadGlibc(feature: string): ReturnType<typeof koffi.load> {
  try {
    return koffi.load('libc.so.6');
  } catch {
    throw new UnsupportedPlatformError(`${feature} without glibc`);
  }
}
