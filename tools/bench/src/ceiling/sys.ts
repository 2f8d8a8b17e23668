// The libc calls of the ceiling loop (a bench instrument, not shipped): a TUN device with IFF_VNET_HDR and
// TSO/checksum offloads, a connected non-blocking UDP socket with UDP_GRO, and the packet-path syscalls with
// plain-number pointers into native memory (koffi, synchronous calls only). Layouts: x86_64 Linux
// (../shared/docs/linux-facts.md).
import koffi from 'koffi';
import { viewAddress } from '@postern/wireguard';

export class CeilingError extends Error {
  constructor(
    readonly code: 'USAGE' | 'SYSCALL' | 'MEMORY',
    message: string,
  ) {
    super(message);
    this.name = 'CeilingError';
  }
}

const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const TUNSETIFF = 0x400454ca;
const TUNSETOFFLOAD = 0x400454d0;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
export const SOL_UDP = 17;
export const UDP_SEGMENT = 103;
export const UDP_GRO = 104;
export const EAGAIN = 11;
export const EINTR = 4;
export const POLLIN = 1;
export const POLLOUT = 4;
export const MSG_DONTWAIT = 0x40;
/** sizeof(struct mmsghdr) */
export const MMSG = 64;
/** sizeof(struct iovec) */
export const IOV = 16;
/** CMSG_SPACE(4): one UDP_GRO (int) or UDP_SEGMENT (u16) control message. */
export const CMSG = 24;

type Fn<A extends unknown[], R> = (...args: A) => R;

function load() {
  const lib = koffi.load('libc.so.6');
  return {
    open: lib.func('int open(const char *path, int flags, int mode)') as Fn<[string, number, number], number>,
    ioctl: lib.func('int ioctl(int fd, unsigned long request, uintptr_t arg)') as Fn<[number, number, number], number>,
    socket: lib.func('int socket(int domain, int type, int protocol)') as Fn<[number, number, number], number>,
    bind: lib.func('int bind(int fd, uintptr_t addr, uint32_t len)') as Fn<[number, number, number], number>,
    connect: lib.func('int connect(int fd, uintptr_t addr, uint32_t len)') as Fn<[number, number, number], number>,
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, uintptr_t value, uint32_t len)') as Fn<[number, number, number, number, number], number>,
    close: lib.func('int close(int fd)') as Fn<[number], number>,
    // ssize_t results fit an int here (at most 64 KiB)
    read: lib.func('int read(int fd, uintptr_t buf, size_t n)') as Fn<[number, number, number], number>,
    write: lib.func('int write(int fd, uintptr_t buf, size_t n)') as Fn<[number, number, number], number>,
    poll: lib.func('int poll(uintptr_t fds, unsigned long nfds, int timeout)') as Fn<[number, number, number], number>,
    recvmmsg: lib.func('int recvmmsg(int fd, uintptr_t vec, unsigned int vlen, int flags, uintptr_t timeout)') as Fn<[number, number, number, number, number], number>,
    sendmmsg: lib.func('int sendmmsg(int fd, uintptr_t vec, unsigned int vlen, int flags)') as Fn<[number, number, number, number], number>,
    strerror: lib.func('const char *strerror(int errnum)') as Fn<[number], string>,
  };
}

export type Libc = ReturnType<typeof load>;
let cached: Libc | undefined;
export function libc(): Libc {
  cached ??= load();
  return cached;
}

export function errno(): number {
  return koffi.errno();
}

function failed(what: string): CeilingError {
  const e = koffi.errno();
  return new CeilingError('SYSCALL', `${what}: ${libc().strerror(e)} (errno ${String(e)})`);
}

/** Native memory with a fixed address and a JS view of it (never freed: the process lives as long as it). */
export interface Native {
  readonly address: number;
  readonly bytes: Uint8Array;
}

/**
 * `size` bytes of native memory. Blocks under glibc's mmap threshold (128 KiB) come from the brk heap, whose
 * addresses are small integers in V8 (the AEAD passes them as numbers; see @postern/wireguard's EvpAead).
 */
export function alloc(size: number): Native {
  const ptr: unknown = koffi.alloc('uint8_t', size);
  const bytes = new Uint8Array(koffi.view(ptr, size));
  bytes.fill(0);
  return { address: Number(koffi.address(ptr)), bytes };
}

/** Opens TUN device `name` with IFF_VNET_HDR (non-blocking) and turns on checksum offload and TSO4/6. */
export function openTun(name: string): number {
  const c = libc();
  const fd = c.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw failed('open /dev/net/tun');
  const ifr = alloc(40);
  ifr.bytes.set(new TextEncoder().encode(name));
  new DataView(ifr.bytes.buffer, ifr.bytes.byteOffset, 40).setUint16(16, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, true);
  if (c.ioctl(fd, TUNSETIFF, ifr.address) < 0) throw failed(`TUNSETIFF ${name}`);
  if (c.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) throw failed(`TUNSETOFFLOAD ${name}`);
  return fd;
}

/** `a.b.c.d:port` as a sockaddr_in in native memory. */
function sockaddr(text: string): Native {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+):(\d+)$/.exec(text);
  const parts = m?.slice(1).map(Number) ?? [];
  const port = parts[4] ?? -1;
  if (parts.length !== 5 || parts.slice(0, 4).some((p) => p > 255) || port < 1 || port > 65535) throw new CeilingError('USAGE', `not an IPv4 address:port: ${text}`);
  const sa = alloc(16);
  const dv = new DataView(sa.bytes.buffer, sa.bytes.byteOffset, 16);
  dv.setUint16(0, AF_INET, true);
  dv.setUint16(2, port, false);
  for (let i = 0; i < 4; i++) sa.bytes[4 + i] = parts[i] ?? 0;
  return sa;
}

/** A non-blocking UDP socket bound to `local`, connected to `peer`, with UDP_GRO and large buffers. */
export function openUdp(local: string, peer: string, bufferBytes: number): number {
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw failed('socket');
  const opt = alloc(4);
  const setInt = (level: number, name: number, value: number, what: string): void => {
    new DataView(opt.bytes.buffer, opt.bytes.byteOffset, 4).setInt32(0, value, true);
    if (c.setsockopt(fd, level, name, opt.address, 4) < 0) throw failed(`setsockopt ${what}`);
  };
  setInt(SOL_SOCKET, SO_SNDBUFFORCE, bufferBytes, 'SO_SNDBUFFORCE');
  setInt(SOL_SOCKET, SO_RCVBUFFORCE, bufferBytes, 'SO_RCVBUFFORCE');
  setInt(SOL_UDP, UDP_GRO, 1, 'UDP_GRO');
  const l = sockaddr(local);
  if (c.bind(fd, l.address, 16) < 0) throw failed(`bind ${local}`);
  const p = sockaddr(peer);
  if (c.connect(fd, p.address, 16) < 0) throw failed(`connect ${peer}`);
  return fd;
}

/** Writes a u64 (< 2^53) little-endian without a BigInt. */
export function setU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / 0x1_0000_0000), true);
}

/** A JS buffer that never moves (an ArrayBuffer's memory, here WebAssembly's) with its address. */
export function pinned(bytes: Uint8Array): Native {
  return { address: viewAddress(bytes), bytes };
}
