// Transport addresses and the (XOR-)MAPPED-ADDRESS family encoding (RFC 8489 §14.1, §14.2).

/** An IP address and port. Structurally compatible with socket-factory's SocketAddr. */
export interface TransportAddress {
  readonly family: 4 | 6;
  /** Dotted quad, or RFC 5952 compressed IPv6 (no brackets, no zone). */
  readonly address: string;
  readonly port: number;
}

/** Parses an IPv4 dotted quad into 4 bytes; undefined if malformed. */
export function parseIpv4(s: string, out: Uint8Array = new Uint8Array(4), offset = 0): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[offset + i] = n;
  }
  return out;
}

/** Parses an IPv6 address (with optional embedded IPv4 tail) into 16 bytes; undefined if malformed. */
export function parseIpv6(s: string, out: Uint8Array = new Uint8Array(16), offset = 0): Uint8Array | undefined {
  let str = s;
  const tail = new Uint8Array(4);
  let tailWords = 0;
  const lastColon = str.lastIndexOf(':');
  if (lastColon >= 0 && str.slice(lastColon + 1).includes('.')) {
    if (!parseIpv4(str.slice(lastColon + 1), tail)) return undefined;
    str = `${str.slice(0, lastColon + 1)}0:0`;
    tailWords = 2;
  }
  const dbl = str.indexOf('::');
  if (dbl !== str.lastIndexOf('::')) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const gs = part.split(':');
    const res: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      res.push(parseInt(g, 16));
    }
    return res;
  };
  let words: number[];
  if (dbl >= 0) {
    const head = parseGroups(str.slice(0, dbl));
    const rest = parseGroups(str.slice(dbl + 2));
    if (!head || !rest || head.length + rest.length > 7) return undefined;
    words = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    const all = parseGroups(str);
    if (!all || all.length !== 8) return undefined;
    words = all;
  }
  for (let i = 0; i < 8; i++) {
    const w = words[i] ?? 0;
    out[offset + 2 * i] = w >> 8;
    out[offset + 2 * i + 1] = w & 0xff;
  }
  if (tailWords) out.set(tail, offset + 12);
  return out;
}

/** Formats 4 bytes at `offset` as a dotted quad. */
export function formatIpv4(b: Uint8Array, offset = 0): string {
  return `${b[offset] ?? 0}.${b[offset + 1] ?? 0}.${b[offset + 2] ?? 0}.${b[offset + 3] ?? 0}`;
}

/** Formats 16 bytes at `offset` as RFC 5952 text (longest run of >= 2 zero words compressed). */
export function formatIpv6(b: Uint8Array, offset = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(((b[offset + 2 * i] ?? 0) << 8) | (b[offset + 2 * i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (x: number | undefined): string => (x ?? 0).toString(16);
  if (bestStart < 0) return w.map(hex).join(':');
  const head = w.slice(0, bestStart).map(hex).join(':');
  const tail = w.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

/** Parses an IP address of either family; undefined if malformed. */
export function parseIp(s: string): { family: 4 | 6; bytes: Uint8Array } | undefined {
  if (s.includes(':')) {
    const bytes = parseIpv6(s);
    return bytes ? { family: 6, bytes } : undefined;
  }
  const bytes = parseIpv4(s);
  return bytes ? { family: 4, bytes } : undefined;
}

/** `a.b.c.d:port` or `[v6]:port`. */
export function formatTransportAddress(a: TransportAddress): string {
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** Parses `a.b.c.d:port` or `[v6]:port` into a normalised TransportAddress; undefined if malformed. */
export function parseTransportAddress(s: string): TransportAddress | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([0-9.]+):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const ip = parseIp(m[1] ?? '');
  const port = Number(m[2]);
  if (!ip || port > 65535) return undefined;
  return { family: ip.family, address: ip.family === 4 ? formatIpv4(ip.bytes) : formatIpv6(ip.bytes), port };
}
