// Which peer addresses the relay refuses to relay to (as coturn does by default): unspecified, loopback,
// multicast, broadcast, link-local, reserved, and IPv4-mapped/compatible forms of those. Allow/deny lists of
// CIDRs (coturn's allowed-peer-ip / denied-peer-ip) override the default.
import { parseIp } from '@postern/stun';

export interface Cidr {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/** Parses `a.b.c.d/n` or `v6/n` (a bare address is /32 or /128); undefined if malformed. */
export function parseCidr(s: string): Cidr | undefined {
  const [ip, len, extra] = s.split('/');
  if (extra !== undefined || ip === undefined) return undefined;
  const parsed = parseIp(ip);
  if (!parsed) return undefined;
  const max = parsed.family === 4 ? 32 : 128;
  const prefix = len === undefined ? max : Number(len);
  if (!/^\d+$/.test(len ?? String(max)) || prefix > max) return undefined;
  return { family: parsed.family, bytes: parsed.bytes, prefix };
}

export function cidrContains(c: Cidr, family: 4 | 6, bytes: Uint8Array): boolean {
  if (c.family !== family) return false;
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((c.bytes[i] ?? 0) & mask) !== ((bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

const DEFAULT_DENIED = [
  '0.0.0.0/8',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  'fe80::/10',
  'ff00::/8',
].map((s) => {
  const c = parseCidr(s);
  if (!c) throw new Error(`bad built-in CIDR ${s}`);
  return c;
});

export interface PeerPolicyOptions {
  /** Checked first: a peer inside one of these is allowed even if it is special (e.g. loopback in tests). */
  readonly allowed?: readonly Cidr[];
  /** Extra denied ranges. */
  readonly denied?: readonly Cidr[];
}

export class PeerPolicy {
  constructor(private readonly opts: PeerPolicyOptions = {}) {}

  /** True if the relay may send to `address`. */
  isAllowed(address: string): boolean {
    const ip = parseIp(address);
    if (!ip) return false;
    let { family, bytes } = ip;
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms are judged as the IPv4 address.
    if (family === 6 && bytes.subarray(0, 10).every((b) => b === 0) && ((bytes[10] === 0xff && bytes[11] === 0xff) || (bytes[10] === 0 && bytes[11] === 0 && !(bytes.subarray(12).every((b) => b === 0) || (bytes[12] === 0 && bytes[13] === 0 && bytes[14] === 0 && bytes[15] === 1))))) {
      family = 4;
      bytes = bytes.slice(12);
    }
    for (const c of this.opts.allowed ?? []) if (cidrContains(c, family, bytes)) return true;
    for (const c of this.opts.denied ?? []) if (cidrContains(c, family, bytes)) return false;
    for (const c of DEFAULT_DENIED) if (cidrContains(c, family, bytes)) return false;
    if (family === 4 && bytes.every((b) => b === 0xff)) return false;
    return true;
  }
}
