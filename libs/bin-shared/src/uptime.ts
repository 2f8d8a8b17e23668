// System uptime (Linux /proc/uptime), logged at start.
import { readFile } from 'node:fs/promises';
import { assertLinux } from './errors';

/** Parses `/proc/uptime` ("12345.67 54321.00"): the first field, in seconds. */
export function parseProcUptime(text: string): number | undefined {
  const first = text.trim().split(/\s+/)[0] ?? '';
  if (!/^\d+(\.\d+)?$/.test(first)) return undefined;
  return Number(first);
}

/** Seconds since boot, or `undefined` when /proc/uptime cannot be read. Throws UNSUPPORTED_PLATFORM off Linux. */
export async function systemUptime(path = '/proc/uptime'): Promise<number | undefined> {
  assertLinux('uptime');
  try {
    return parseProcUptime(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}
