// libc socket calls for the main thread (setup and sendmmsg); receive runs in udp-recv.worker.mjs.
import koffi from 'koffi';

export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_MARK = 36;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const SOL_UDP = 17;
export const UDP_SEGMENT = 103;
export const UDP_GRO = 104;
export const EAGAIN = 11;
export const EINTR = 4;
export const EADDRINUSE = 98;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

export interface SocketLibc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint8Array): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  getsockoptInt(fd: number, level: number, name: number): number | undefined;
  sendmmsg(fd: number, vec: number, vlen: number, flags: number): number;
  close(fd: number): number;
  eventfd(initval: number, flags: number): number;
  write(fd: number, buf: Uint8Array, n: number): number;
  /** The address of an ArrayBuffer-backed view's first byte (memmove(p, p, 0) returns p). */
  addressOf(view: Uint8Array): number;
  errno(): number;
  strerror(e: number): string;
}

function n(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : Number.NaN;
}

let cached: SocketLibc | undefined;

export function socketLibc(): SocketLibc {
  if (cached !== undefined) return cached;
  const lib = koffi.load('libc.so.6');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const bind = lib.func('int bind(int fd, const uint8_t *addr, uint32_t len)');
  const getsockname = lib.func('int getsockname(int fd, _Inout_ uint8_t *addr, _Inout_ uint8_t *len)');
  const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const uint8_t *value, uint32_t len)');
  const getsockopt = lib.func('int getsockopt(int fd, int level, int name, _Inout_ uint8_t *value, _Inout_ uint8_t *len)');
  const sendmmsg = lib.func('int sendmmsg(int fd, uintptr_t vec, unsigned int vlen, int flags)');
  const close = lib.func('int close(int fd)');
  const eventfd = lib.func('int eventfd(unsigned int initval, int flags)');
  const write = lib.func('intptr_t write(int fd, const uint8_t *buf, size_t n)');
  const memmove = lib.func('uintptr_t memmove(uint8_t *dst, uint8_t *src, size_t n)');
  const strerror = lib.func('const char *strerror(int errnum)');
  const intBuf = new Uint8Array(4);
  const lenBuf = new Uint8Array(4);
  const intView = new DataView(intBuf.buffer);
  const lenView = new DataView(lenBuf.buffer);
  cached = {
    socket: (d, t, p) => n(socket(d, t, p)),
    bind: (fd, a, l) => n(bind(fd, a, l)),
    getsockname: (fd, a, l) => n(getsockname(fd, a, l)),
    setsockoptInt: (fd, level, name, value) => {
      intView.setInt32(0, value, true);
      return n(setsockopt(fd, level, name, intBuf, 4));
    },
    getsockoptInt: (fd, level, name) => {
      lenView.setUint32(0, 4, true);
      intView.setInt32(0, 0, true);
      if (n(getsockopt(fd, level, name, intBuf, lenBuf)) < 0) return undefined;
      return intView.getInt32(0, true);
    },
    sendmmsg: (fd, vec, vlen, flags) => n(sendmmsg(fd, vec, vlen, flags)),
    close: (fd) => n(close(fd)),
    eventfd: (i, f) => n(eventfd(i, f)),
    write: (fd, b, len) => n(write(fd, b, len)),
    addressOf: (view) => n(memmove(view, view, 0)),
    errno: () => koffi.errno(),
    strerror: (e) => String(strerror(e)),
  };
  return cached;
}
