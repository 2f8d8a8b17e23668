// Address parsing/formatting and CIDR helpers used for routing. Addresses are `Uint8Array`s of 4 (IPv4) or
// 16 (IPv6) bytes in network order; packets expose views of theirs without copying.

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address in network byte order. */
export type IpAddrBytes = Uint8Array;

/** A network: `address` has every host bit cleared; `prefix` is 0..32 (v4) or 0..128 (v6). */
export interface Cidr {
  readonly address: IpAddrBytes;
  readonly prefix: number;
}

/** 4 or 6 from the address length; 0 for anything else. */
export function ipFamily(addr: Uint8Array): 0 | 4 | 6 {
  return addr.length === 4 ? 4 : addr.length === 16 ? 6 : 0;
}

const DEC = /^(0|[1-9][0-9]{0,2})$/;

/** Parses dotted-quad IPv4 (no leading zeros, no shorthand). */
export function parseIpv4(text: string): IpAddrBytes | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!DEC.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

const HEX = /^[0-9a-fA-F]{1,4}$/;

/** Parses IPv6 text (RFC 4291 §2.2: `::` compression, embedded dotted IPv4 tail). No zone ids. */
export function parseIpv6(text: string): IpAddrBytes | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const dbl = text.indexOf('::');
  if (dbl !== -1 && text.indexOf('::', dbl + 1) !== -1) return undefined;
  const words: number[] = [];
  const parseSide = (side: string, allowV4Tail: boolean): number[] | undefined => {
    if (side === '') return [];
    const groups = side.split(':');
    const res: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] ?? '';
      if (allowV4Tail && i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIpv4(g);
        if (!v4) return undefined;
        res.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
        continue;
      }
      if (!HEX.test(g)) return undefined;
      res.push(parseInt(g, 16));
    }
    return res;
  };
  if (dbl === -1) {
    const all = parseSide(text, true);
    if (all?.length !== 8) return undefined;
    words.push(...all);
  } else {
    const head = parseSide(text.slice(0, dbl), false);
    const tail = parseSide(text.slice(dbl + 2), true);
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    words.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const w = words[i] ?? 0;
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  }
  return out;
}

/** Parses IPv4 or IPv6 text; `undefined` if it is neither. */
export function parseIp(text: string): IpAddrBytes | undefined {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

/** Formats 4 bytes as dotted quad, 16 bytes per RFC 5952 (lowercase, longest zero run >= 2 compressed). */
export function formatIp(addr: Uint8Array, offset = 0, family: 4 | 6 = addr.length - offset === 4 ? 4 : 6): string {
  if (family === 4) {
    return `${addr[offset] ?? 0}.${addr[offset + 1] ?? 0}.${addr[offset + 2] ?? 0}.${addr[offset + 3] ?? 0}`;
  }
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(((addr[offset + 2 * i] ?? 0) << 8) | (addr[offset + 2 * i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // IPv4-mapped addresses print their tail dotted (::ffff:1.2.3.4).
  if (bestStart === 0 && bestLen === 5 && w[5] === 0xffff) {
    return `::ffff:${formatIp(addr, offset + 12, 4)}`;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(w);
  return `${hex(w.slice(0, bestStart))}::${hex(w.slice(bestStart + bestLen))}`;
}

/** IPv4 bytes at `offset` as an unsigned 32-bit number (no allocation). */
export function ipv4ToU32(addr: Uint8Array, offset = 0): number {
  return (((addr[offset] ?? 0) << 24) | ((addr[offset + 1] ?? 0) << 16) | ((addr[offset + 2] ?? 0) << 8) | (addr[offset + 3] ?? 0)) >>> 0;
}

/** An unsigned 32-bit number as IPv4 bytes (written into `out` when given). */
export function u32ToIpv4(value: number, out: Uint8Array = new Uint8Array(4), offset = 0): Uint8Array {
  out[offset] = (value >>> 24) & 0xff;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
  return out;
}

/** Whether two addresses are equal (same family, same bytes). */
export function ipEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && ipEqualsAt(a, b, 0);
}

/** Whether `addr` equals the `addr.length` bytes of `buf` at `offset` (allocation-free). */
export function ipEqualsAt(addr: Uint8Array, buf: Uint8Array, offset: number): boolean {
  if (offset + addr.length > buf.length) return false;
  for (let i = 0; i < addr.length; i++) if (addr[i] !== buf[offset + i]) return false;
  return true;
}

/** Total order: IPv4 before IPv6, then bytewise. */
export function compareIp(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Clears every bit after `prefix` (returns a new array). */
export function maskAddress(addr: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(addr);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = (out[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/**
 * Parses `a.b.c.d/n` or `x::y/n`; a bare address is a host route (/32 or /128). Host bits are cleared
 * (`10.0.0.5/24` -> `10.0.0.0/24`) unless `strict`, which rejects them instead.
 */
export function parseCidr(text: string, options: { strict?: boolean } = {}): Cidr | undefined {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const addr = parseIp(addrText);
  if (!addr) return undefined;
  const max = addr.length * 8;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!DEC.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  const masked = maskAddress(addr, prefix);
  if (options.strict === true && !ipEquals(masked, addr)) return undefined;
  return { address: masked, prefix };
}

/** Builds a Cidr from parts (clears host bits); `undefined` when the prefix is out of range. */
export function makeCidr(address: Uint8Array, prefix: number): Cidr | undefined {
  const fam = ipFamily(address);
  if (fam === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > address.length * 8) return undefined;
  return { address: maskAddress(address, prefix), prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.address)}/${cidr.prefix}`;
}

/** Whether `addr` (4 or 16 bytes) is inside `cidr`; an address of the other family never is. */
export function cidrContains(cidr: Cidr, addr: Uint8Array): boolean {
  return addr.length === cidr.address.length && cidrContainsAt(cidr, addr, 0, addr.length === 4 ? 4 : 6);
}

/**
 * Whether the `family` address at `buf[offset..]` is inside `cidr`. Allocation-free, so it tests a packet's
 * destination in place (`IpPacket.destinationIn` uses it).
 */
export function cidrContainsAt(cidr: Cidr, buf: Uint8Array, offset: number, family: 4 | 6): boolean {
  if (family !== ipFamily(cidr.address)) return false;
  if (offset + cidr.address.length > buf.length) return false;
  const net = cidr.address;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((((buf[offset + i] ?? 0) ^ (net[i] ?? 0)) & mask) !== 0) return false;
  }
  return true;
}

/** Whether `inner` lies wholly inside `outer` (same family, longer-or-equal prefix). */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.address);
}

/** Whether two networks share any address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContainsCidr(a, b) || cidrContainsCidr(b, a);
}

/**
 * Order for longest-prefix-match tables: IPv4 before IPv6, then longer prefixes first, then by address.
 * Sorting routes with it and taking the first that contains an address yields the longest match.
 */
export function comparePrefix(a: Cidr, b: Cidr): number {
  if (a.address.length !== b.address.length) return a.address.length - b.address.length;
  if (a.prefix !== b.prefix) return b.prefix - a.prefix;
  return compareIp(a.address, b.address);
}

/** Number of leading bits two same-family addresses share (0 for different families). */
export function commonPrefixLength(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const x = ((a[i] ?? 0) ^ (b[i] ?? 0)) & 0xff;
    if (x === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(x) - 24;
  }
  return n;
}
