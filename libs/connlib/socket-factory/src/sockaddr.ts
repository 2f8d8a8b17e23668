// struct sockaddr_in / sockaddr_in6 encoding (Linux x86_64 layouts, see linux-facts.md). Reads and writes in
// place; `SockaddrCache` turns received addresses into reused SocketAddr objects without parsing each time.
import { SocketError } from './errors';
import type { SocketAddr } from './types';
import { parseSocketAddr } from './addr';

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCKADDR_IN6_LEN = 28;
export const SOCKADDR_IN_LEN = 16;

function v4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

function v6Bytes(address: string): Uint8Array {
  const out = new Uint8Array(16);
  let s = address;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  const tailWords: number[] = [];
  if (v4tail?.[1] !== undefined) {
    const b = v4Bytes(v4tail[1]);
    tailWords.push((((b[0] ?? 0) << 8) | (b[1] ?? 0)) >>> 0, (((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0);
    s = s.slice(0, s.length - v4tail[1].length) + '0:0';
  }
  const [headStr = '', tailStr] = s.split('::');
  const head = headStr === '' ? [] : headStr.split(':').map((h) => parseInt(h, 16));
  const tail = tailStr === undefined ? [] : tailStr === '' ? [] : tailStr.split(':').map((h) => parseInt(h, 16));
  const words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  if (tailWords.length === 2) words.splice(6, 2, ...tailWords);
  for (let i = 0; i < 8; i++) {
    const w = words[i] ?? 0;
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  }
  return out;
}

/**
 * Writes `addr` as a sockaddr at `buf[off..]`; returns its length. With `asV6` an IPv4 address is written as
 * IPv4-mapped IPv6 (for a dual-stack AF_INET6 socket).
 */
export function writeSockaddr(buf: Uint8Array, off: number, addr: SocketAddr, asV6: boolean): number {
  const dv = new DataView(buf.buffer, buf.byteOffset);
  if (addr.family === 4 && !asV6) {
    buf.fill(0, off, off + SOCKADDR_IN_LEN);
    dv.setUint16(off, AF_INET, true);
    dv.setUint16(off + 2, addr.port, false);
    buf.set(v4Bytes(addr.address), off + 4);
    return SOCKADDR_IN_LEN;
  }
  if (addr.family === 6 && !asV6) throw new SocketError('INVALID_ADDRESS', `cannot send to IPv6 ${addr.key} from an IPv4 socket`);
  buf.fill(0, off, off + SOCKADDR_IN6_LEN);
  dv.setUint16(off, AF_INET6, true);
  dv.setUint16(off + 2, addr.port, false);
  if (addr.family === 4) {
    buf[off + 18] = 0xff;
    buf[off + 19] = 0xff;
    buf.set(v4Bytes(addr.address), off + 20);
  } else {
    buf.set(v6Bytes(addr.address), off + 8);
  }
  return SOCKADDR_IN6_LEN;
}

/** Reads a sockaddr_in / sockaddr_in6 at `buf[off..]` (IPv4-mapped IPv6 becomes family 4). */
export function readSockaddr(buf: Uint8Array, off: number): SocketAddr {
  const family = (buf[off] ?? 0) | ((buf[off + 1] ?? 0) << 8);
  const port = ((buf[off + 2] ?? 0) << 8) | (buf[off + 3] ?? 0);
  if (family === AF_INET) {
    return parseSocketAddr(`${buf[off + 4]}.${buf[off + 5]}.${buf[off + 6]}.${buf[off + 7]}`, port);
  }
  if (family === AF_INET6) {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push((((buf[off + 8 + 2 * i] ?? 0) << 8) | (buf[off + 9 + 2 * i] ?? 0)).toString(16));
    return parseSocketAddr(compressV6(words), port);
  }
  throw new SocketError('INVALID_ADDRESS', `unknown address family ${family}`);
}

function compressV6(words: string[]): string {
  const joined = words.join(':');
  if (/^0:0:0:0:0:ffff:/.test(joined)) {
    const hi = parseInt(words[6] ?? '0', 16);
    const lo = parseInt(words[7] ?? '0', 16);
    return `::ffff:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  // Longest run of zeros -> '::'.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return joined;
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

/** Turns received sockaddrs into SocketAddr objects, reusing one object per distinct address. */
export class SockaddrCache {
  private readonly byKey = new Map<string, SocketAddr>();
  private readonly words: Int32Array;
  private last: SocketAddr | undefined;
  private readonly lastWords = new Int32Array(7);

  constructor(private readonly maxEntries = 4096) {
    this.words = new Int32Array(7);
  }

  /** The address stored as 7 Int32 words at `meta[index..]` (a sockaddr_in or sockaddr_in6). */
  get(meta: Int32Array, index: number, bytes: Uint8Array, byteOffset: number): SocketAddr {
    let same = this.last !== undefined;
    for (let i = 0; i < 7; i++) {
      const w = meta[index + i] ?? 0;
      this.words[i] = w;
      if (w !== this.lastWords[i]) same = false;
    }
    if (same && this.last !== undefined) return this.last;
    const key = this.words.join(',');
    let addr = this.byKey.get(key);
    if (addr === undefined) {
      addr = readSockaddr(bytes, byteOffset);
      if (this.byKey.size >= this.maxEntries) this.byKey.clear();
      this.byKey.set(key, addr);
    }
    this.lastWords.set(this.words);
    this.last = addr;
    return addr;
  }
}
