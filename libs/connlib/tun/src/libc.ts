// The few libc calls the main thread needs to open a TUN device (the packet path is in tun.worker.mjs).
import koffi from 'koffi';

export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const TUNSETIFF = 0x400454ca;
export const IFF_TUN = 0x0001;
export const IFF_NO_PI = 0x1000;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_VNET_HDR = 0x4000;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;
/** struct ifreq ioctls on any socket: the device's transmit queue length (ifr_qlen, an int at offset 16). */
export const SIOCGIFTXQLEN = 0x8942;
export const SIOCSIFTXQLEN = 0x8943;
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

export interface Libc {
  open(path: string, flags: number, mode: number): number;
  socket(domain: number, type: number, protocol: number): number;
  ioctl(fd: number, request: number, arg: Uint8Array): number;
  /** ioctl whose argument is a value, not a pointer (TUNSETOFFLOAD). */
  ioctlValue(fd: number, request: number, arg: number): number;
  close(fd: number): number;
  eventfd(initval: number, flags: number): number;
  write(fd: number, buf: Uint8Array, count: number): number;
  errno(): number;
  strerror(errno: number): string;
}

let cached: Libc | undefined;

function asNumber(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : Number.NaN;
}

export function libc(): Libc {
  if (cached !== undefined) return cached;
  const lib = koffi.load('libc.so.6');
  const open = lib.func('int open(const char *path, int flags, int mode)');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)');
  const ioctlValue = lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']);
  const close = lib.func('int close(int fd)');
  const eventfd = lib.func('int eventfd(unsigned int initval, int flags)');
  const write = lib.func('intptr_t write(int fd, const uint8_t *buf, size_t count)');
  const strerror = lib.func('const char *strerror(int errnum)');
  cached = {
    open: (p, f, m) => asNumber(open(p, f, m)),
    socket: (d, t, p) => asNumber(socket(d, t, p)),
    ioctl: (fd, r, a) => asNumber(ioctl(fd, r, a)),
    ioctlValue: (fd, r, a) => asNumber(ioctlValue(fd, r, a)),
    close: (fd) => asNumber(close(fd)),
    eventfd: (i, f) => asNumber(eventfd(i, f)),
    write: (fd, b, n) => asNumber(write(fd, b, n)),
    errno: () => koffi.errno(),
    strerror: (e) => String(strerror(e)),
  };
  return cached;
}
