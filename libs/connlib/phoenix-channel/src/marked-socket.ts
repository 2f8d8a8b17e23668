// A TCP connection whose socket carries an SO_MARK (fwmark) from before its SYN, so that policy routing can
// send it past Postern's own TUN (the client's `not fwmark X lookup <postern table>` rule): with the Internet
// resource active the default route points into the TUN, and the portal websocket must not go through it.
// Node creates TCP sockets inside `connect()`, so the fd is made here with koffi (socket + setsockopt) and
// handed to `net.Socket({ fd })`, which then connects it.
import { lookup } from 'node:dns/promises';
import { isIP, Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import koffi from 'koffi';
import { PhoenixChannelError } from './errors';

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_MARK = 36;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  getsockoptInt(fd: number, level: number, name: number): number | undefined;
  close(fd: number): number;
  errno(): number;
  strerror(e: number): string;
}

let cached: Libc | undefined;

function libc(): Libc {
  if (cached !== undefined) return cached;
  const lib = koffi.load('libc.so.6');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const uint8_t *value, uint32_t len)');
  const getsockopt = lib.func('int getsockopt(int fd, int level, int name, _Inout_ uint8_t *value, _Inout_ uint8_t *len)');
  const close = lib.func('int close(int fd)');
  const strerror = lib.func('const char *strerror(int errnum)');
  const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
  const int = new Uint8Array(4);
  const len = new Uint8Array(4);
  const intView = new DataView(int.buffer);
  cached = {
    socket: (d, t, p) => num(socket(d, t, p)),
    setsockoptInt: (fd, level, name, value) => {
      intView.setInt32(0, value, true);
      return num(setsockopt(fd, level, name, int, 4));
    },
    getsockoptInt: (fd, level, name) => {
      new DataView(len.buffer).setUint32(0, 4, true);
      if (num(getsockopt(fd, level, name, int, len)) < 0) return undefined;
      return intView.getInt32(0, true);
    },
    close: (fd) => num(close(fd)),
    errno: () => koffi.errno(),
    strerror: (e) => String(strerror(e)),
  };
  return cached;
}

/** A resolved address to connect to. */
export interface ConnectTarget {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves `host` (a name or an IP literal, brackets allowed) to one address, as `net.connect` would. */
export async function resolveTarget(host: string): Promise<ConnectTarget> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const literal = isIP(bare);
  if (literal === 4 || literal === 6) return { address: bare, family: literal };
  try {
    const r = await lookup(bare);
    return { address: r.address, family: r.family === 6 ? 6 : 4 };
  } catch (err) {
    throw new PhoenixChannelError('CONNECT_FAILED', `cannot resolve ${bare}`, { cause: err });
  }
}

/** A non-blocking TCP socket fd with SO_MARK set; throws MARK_FAILED (e.g. EPERM without CAP_NET_ADMIN). */
export function markedTcpFd(family: 4 | 6, mark: number): number {
  const c = libc();
  const fd = c.socket(family === 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const e = c.errno();
    throw new PhoenixChannelError('MARK_FAILED', `socket(): ${c.strerror(e)} (errno ${String(e)})`);
  }
  if (c.setsockoptInt(fd, SOL_SOCKET, SO_MARK, mark) < 0) {
    const e = c.errno();
    c.close(fd);
    throw new PhoenixChannelError('MARK_FAILED', `setsockopt(SO_MARK 0x${mark.toString(16)}): ${c.strerror(e)} (errno ${String(e)})`);
  }
  return fd;
}

/** The SO_MARK of a socket fd (for tests and diagnostics); undefined if it cannot be read. */
export function socketMark(fd: number): number | undefined {
  return libc().getsockoptInt(fd, SOL_SOCKET, SO_MARK);
}

/**
 * A `createConnection` for `ws`/`http.request`: connects a marked socket to `target` (already resolved: the
 * function must return synchronously) and, with `tls` (a `wss:` URL), runs TLS over it (SNI, CA and client
 * certificate from `tls`). The options `ws` passes are not needed: everything comes from the URL.
 */
export function markedConnector(target: ConnectTarget, port: number, mark: number, tls: ConnectionOptions | undefined): () => Socket {
  return () => {
    const fd = markedTcpFd(target.family, mark);
    let socket: Socket;
    try {
      socket = new Socket({ fd, readable: true, writable: true });
    } catch (err) {
      libc().close(fd);
      throw new PhoenixChannelError('MARK_FAILED', 'wrapping the marked socket failed', { cause: err });
    }
    socket.connect({ host: target.address, port });
    return tls === undefined ? socket : tlsConnect({ ...tls, socket });
  };
}

/** The TLS options for a `wss:` URL from `ws` client options (SNI: the URL's host name unless it is an IP). */
export function tlsOptionsFor(url: URL, o: Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'pfx' | 'rejectUnauthorized' | 'servername'>): ConnectionOptions | undefined {
  if (url.protocol !== 'wss:') return undefined;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const servername = o.servername ?? (isIP(host) === 0 ? host : undefined);
  return {
    ...(o.ca === undefined ? {} : { ca: o.ca }),
    ...(o.cert === undefined ? {} : { cert: o.cert }),
    ...(o.key === undefined ? {} : { key: o.key }),
    ...(o.passphrase === undefined ? {} : { passphrase: o.passphrase }),
    ...(o.pfx === undefined ? {} : { pfx: o.pfx }),
    ...(o.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: o.rejectUnauthorized }),
    ...(servername === undefined ? {} : { servername }),
  };
}

/** The port of a ws:/wss: URL (default 80/443). */
export function urlPort(url: URL): number {
  return url.port === '' ? (url.protocol === 'wss:' ? 443 : 80) : Number(url.port);
}
