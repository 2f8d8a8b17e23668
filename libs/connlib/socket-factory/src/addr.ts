import { isIPv4, isIPv6 } from 'node:net';
import { SocketError } from './errors';
import type { SocketAddr } from './types';

/** Parses `a.b.c.d:port` / `[v6]:port`, or an address and a port. IPv4-mapped IPv6 becomes family 4. */
export function parseSocketAddr(address: string, port?: number): SocketAddr {
  let host = address;
  let p = port;
  if (p === undefined) {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
    if (m === null) throw new SocketError('INVALID_ADDRESS', `not an ip:port address: ${address}`);
    host = m[1] ?? '';
    p = Number(m[2]);
  }
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new SocketError('INVALID_ADDRESS', `invalid port ${p}`);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped?.[1] !== undefined) host = mapped[1];
  if (isIPv4(host)) return { family: 4, address: host, port: p, key: `${host}:${p}` };
  if (isIPv6(host)) return { family: 6, address: host, port: p, key: `[${host}]:${p}` };
  throw new SocketError('INVALID_ADDRESS', `not an IP address: ${host}`);
}
