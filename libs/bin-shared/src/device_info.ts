// What the portal is told about the device: OS name/version, kernel, arch, hostname, and the hardware serial
// and UUID from /sys/class/dmi/id where readable (placeholder serials that vendors ship are ignored).
import { readFile } from 'node:fs/promises';
import { arch, hostname, release } from 'node:os';
import { join } from 'node:path';
import { assertLinux } from './errors';

export interface DeviceInfo {
  /** `PRETTY_NAME`/`NAME` of os-release, e.g. "Ubuntu 24.04.1 LTS". */
  readonly osName: string;
  /** `VERSION_ID` of os-release, e.g. "24.04". */
  readonly osVersion: string | undefined;
  readonly kernelVersion: string;
  readonly arch: string;
  readonly hostname: string;
  readonly serial: string | undefined;
  readonly uuid: string | undefined;
}

export interface DeviceInfoOptions {
  /** Filesystem root to read etc/os-release and sys/class/dmi/id under (tests). Default `/`. */
  readonly root?: string;
}

/** Parses os-release(5): KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    let value = line.slice(eq + 1);
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    }
    out[key] = value;
  }
  return out;
}

const PLACEHOLDERS = new Set([
  '',
  '0',
  '00000000',
  '0000000000',
  '123456789',
  '1234567890',
  '0123456789',
  'none',
  'n/a',
  'na',
  'default string',
  'to be filled by o.e.m.',
  'to be filled by oem',
  'system serial number',
  'not specified',
  'not applicable',
  'chassis serial number',
  'serial',
  'unknown',
  'oem',
  'invalid',
  'xxxxxxxxxx',
]);

/** True for serials/UUIDs that vendors leave as placeholders ("123456789", "To Be Filled By O.E.M.", zeros). */
export function isPlaceholderSerial(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (PLACEHOLDERS.has(v)) return true;
  if (/^[0\-\s]+$/.test(v) || /^[f\-\s]+$/.test(v)) return true; // all zeros / all 0xff UUIDs
  return false;
}

async function readTrimmed(path: string): Promise<string | undefined> {
  try {
    const v = (await readFile(path, 'utf8')).trim();
    return isPlaceholderSerial(v) ? undefined : v;
  } catch {
    return undefined; // product_serial is root-only; missing in VMs and containers
  }
}

export async function deviceInfo(opts: DeviceInfoOptions = {}): Promise<DeviceInfo> {
  assertLinux('device_info');
  const root = opts.root ?? '/';
  let osRelease: Record<string, string> = {};
  for (const p of ['etc/os-release', 'usr/lib/os-release']) {
    try {
      osRelease = parseOsRelease(await readFile(join(root, p), 'utf8'));
      break;
    } catch {
      // try the next location
    }
  }
  const dmi = join(root, 'sys/class/dmi/id');
  return {
    osName: osRelease['PRETTY_NAME'] ?? osRelease['NAME'] ?? 'Linux',
    osVersion: osRelease['VERSION_ID'],
    kernelVersion: release(),
    arch: arch(),
    hostname: hostname(),
    serial: (await readTrimmed(join(dmi, 'product_serial'))) ?? (await readTrimmed(join(dmi, 'board_serial'))),
    uuid: await readTrimmed(join(dmi, 'product_uuid')),
  };
}
