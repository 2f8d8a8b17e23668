// "root or effective CAP_NET_ADMIN": the gateway and the clients need it for the TUN, routes and DNS.
// The apps' `--no-check` flag skips `checkNetAdmin()`.
import { readFileSync } from 'node:fs';
import { BinSharedError, assertLinux } from './errors';

export const CAP_NET_ADMIN = 12;

/** The CapEff mask of a /proc/<pid>/status text, or `undefined` if absent. */
export function parseCapEff(status: string): bigint | undefined {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m?.[1] === undefined ? undefined : BigInt(`0x${m[1]}`);
}

export interface NetAdminCheck {
  readonly ok: boolean;
  readonly root: boolean;
  readonly capNetAdmin: boolean;
}

export interface CapabilityOptions {
  readonly statusPath?: string;
  readonly uid?: number;
}

export function netAdminStatus(opts: CapabilityOptions = {}): NetAdminCheck {
  assertLinux('capabilities');
  const uid = opts.uid ?? process.getuid?.() ?? -1;
  let cap = false;
  try {
    const eff = parseCapEff(readFileSync(opts.statusPath ?? '/proc/self/status', 'utf8'));
    cap = eff !== undefined && ((eff >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n;
  } catch {
    cap = false;
  }
  return { ok: uid === 0 || cap, root: uid === 0, capNetAdmin: cap };
}

/** What the user should do, for the one-line error. */
export function missingNetAdminMessage(binary: string): string {
  return (
    `${binary} needs root or the CAP_NET_ADMIN capability to manage its TUN device, routes and DNS: ` +
    `run it with sudo, or as a systemd service with AmbientCapabilities=CAP_NET_ADMIN, ` +
    `or pass --no-check to skip this check`
  );
}

/** Throws MISSING_CAPABILITY (message says what to do) unless root or CAP_NET_ADMIN is effective. */
export function checkNetAdmin(binary: string, opts: CapabilityOptions = {}): void {
  if (!netAdminStatus(opts).ok) throw new BinSharedError('MISSING_CAPABILITY', missingNetAdminMessage(binary));
}
