// Transport addresses. Structurally identical to @postern/socket-factory's SocketAddr, so the IO shell can
// pass its objects straight in; sans-IO code never needs the socket package.
import { parseIp } from '@postern/ip-packet';

/** A UDP endpoint. `key` (`a.b.c.d:port` / `[v6]:port`) is a stable Map key. Treat as immutable. */
export interface NetAddr {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  readonly key: string;
}

/** Builds a NetAddr from an IP string and port; undefined when the IP does not parse or the port is out of range. */
export function netAddr(address: string, port: number): NetAddr | undefined {
  const bytes = parseIp(address);
  if (bytes === undefined || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  const family = bytes.length === 4 ? 4 : 6;
  return { family, address, port, key: family === 4 ? `${address}:${String(port)}` : `[${address}]:${String(port)}` };
}

/** Parses `ip:port` or `[ip6]:port`. */
export function parseNetAddr(text: string): NetAddr | undefined {
  if (text.startsWith('[')) {
    const end = text.indexOf(']:');
    if (end === -1) return undefined;
    return netAddr(text.slice(1, end), Number(text.slice(end + 2)));
  }
  const colon = text.lastIndexOf(':');
  if (colon === -1) return undefined;
  return netAddr(text.slice(0, colon), Number(text.slice(colon + 1)));
}
