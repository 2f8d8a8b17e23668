// Test harness: the few syscalls the interop test needs (TUN device, network namespace switch).
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const open = libc.func('int open(const char *path, int flags)') as (p: string, f: number) => number;
const close = libc.func('int close(int fd)') as (fd: number) => number;
const ioctl = libc.func('int ioctl(int fd, unsigned long req, void *arg)') as (fd: number, req: number, arg: Uint8Array) => number;
const setnsFn = libc.func('int setns(int fd, int nstype)') as (fd: number, t: number) => number;
const writeFn = libc.func('long write(int fd, void *buf, unsigned long count)') as (fd: number, b: Uint8Array, n: number) => number;

const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const O_RDONLY = 0;
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const CLONE_NEWNET = 0x40000000;

function fail(what: string): never {
  throw new Error(`${what} failed: errno ${koffi.errno()}`);
}

/** Opens a TUN device (IFF_TUN | IFF_NO_PI, non-blocking) in the current network namespace. */
export function openTun(name: string): number {
  const fd = open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail('open /dev/net/tun');
  const ifr = new Uint8Array(40);
  ifr.set(new TextEncoder().encode(name));
  new DataView(ifr.buffer).setUint16(16, IFF_TUN | IFF_NO_PI, true);
  if (ioctl(fd, TUNSETIFF, ifr) < 0) {
    close(fd);
    fail('TUNSETIFF');
  }
  return fd;
}

export function writeFd(fd: number, bytes: Uint8Array): number {
  return writeFn(fd, bytes, bytes.length);
}

export function closeFd(fd: number): void {
  close(fd);
}

/** An fd for a network namespace (`/proc/self/ns/net` for the current one, or `/var/run/netns/<name>`). */
export function openNetns(path: string): number {
  const fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(`open ${path}`);
  return fd;
}

/** Moves the calling thread into the network namespace behind `fd`. */
export function enterNetns(fd: number): void {
  if (setnsFn(fd, CLONE_NEWNET) !== 0) fail('setns');
}
