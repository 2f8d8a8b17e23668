// A synchronous rtnetlink request socket through koffi. Requests are answered by the kernel before `send`
// returns, so blocking `recv` (with a 5 s SO_RCVTIMEO as a safety net) is fine on the main thread.
import { closeSync, openSync } from 'node:fs';
import koffi from 'koffi';
import { BinSharedError, NetlinkError } from '../errors';
import { errorErrno, parseMessages, type NlMessage } from './codec';
import * as C from './constants';

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  setsockopt(fd: number, level: number, name: number, val: Uint8Array, len: number): number;
  close(fd: number): number;
  setns(fd: number, nstype: number): number;
}

let cached: Libc | undefined;

function num(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : Number.NaN;
}

function libc(): Libc {
  if (cached) return cached;
  const lib = koffi.load('libc.so.6');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const bind = lib.func('int bind(int fd, const uint8_t *addr, uint32_t len)');
  const send = lib.func('intptr_t send(int fd, const uint8_t *buf, size_t len, int flags)');
  const recv = lib.func('intptr_t recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)');
  const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const uint8_t *val, uint32_t len)');
  const close = lib.func('int close(int fd)');
  const setns = lib.func('int setns(int fd, int nstype)');
  cached = {
    socket: (d, t, p) => num(socket(d, t, p)),
    bind: (fd, a, l) => num(bind(fd, a, l)),
    send: (fd, b, l, f) => num(send(fd, b, l, f)),
    recv: (fd, b, l, f) => num(recv(fd, b, l, f)),
    setsockopt: (fd, lv, n, v, l) => num(setsockopt(fd, lv, n, v, l)),
    close: (fd) => num(close(fd)),
    setns: (fd, t) => num(setns(fd, t)),
  };
  return cached;
}

/** Runs `fn` with the calling thread inside the network namespace at `netnsPath` (then switches back). */
export function inNetns<T>(netnsPath: string | undefined, fn: () => T): T {
  if (netnsPath === undefined) return fn();
  const c = libc();
  const orig = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(netnsPath, 'r');
  try {
    if (c.setns(target, C.CLONE_NEWNET) !== 0) {
      throw new BinSharedError('NETLINK_FAILED', `setns(${netnsPath}) failed: errno ${koffi.errno()}`);
    }
    let result: T;
    try {
      result = fn();
    } finally {
      if (c.setns(orig, C.CLONE_NEWNET) !== 0) {
        // Staying in the wrong namespace would misroute everything this thread does next.
        process.abort();
      }
    }
    return result;
  } finally {
    closeSync(orig);
    closeSync(target);
  }
}

export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fff_0000);
  private readonly buf = Buffer.alloc(1 << 16);
  private closed = false;

  private constructor(private readonly fd: number) {}

  static open(netnsPath?: string): NetlinkSocket {
    const c = libc();
    const fd = inNetns(netnsPath, () => c.socket(C.AF_NETLINK, C.SOCK_RAW | C.SOCK_CLOEXEC, C.NETLINK_ROUTE));
    if (fd < 0) throw new NetlinkError('socket(AF_NETLINK)', koffi.errno());
    const sa = Buffer.alloc(12);
    sa.writeUInt16LE(C.AF_NETLINK, 0);
    if (c.bind(fd, sa, 12) !== 0) {
      const e = koffi.errno();
      c.close(fd);
      throw new NetlinkError('bind(AF_NETLINK)', e);
    }
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(5n, 0); // SO_RCVTIMEO 5 s
    c.setsockopt(fd, 1, 20, tv, 16);
    return new NetlinkSocket(fd);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private sendRaw(build: (seq: number) => Buffer, operation: string): number {
    if (this.closed) throw new BinSharedError('NETLINK_FAILED', `${operation}: socket closed`);
    const seq = this.nextSeq();
    const msg = build(seq);
    if (libc().send(this.fd, msg, msg.length, 0) < 0) throw new NetlinkError(`${operation} (send)`, koffi.errno());
    return seq;
  }

  private recvMessages(operation: string): NlMessage[] {
    const n = libc().recv(this.fd, this.buf, this.buf.length, 0);
    if (n < 0) throw new NetlinkError(`${operation} (recv)`, koffi.errno());
    return parseMessages(Buffer.from(this.buf.subarray(0, n)));
  }

  /** Sends a request with NLM_F_ACK; returns 0 or the positive errno of the kernel's answer. */
  request(build: (seq: number) => Buffer, operation: string): { errno: number; replies: NlMessage[] } {
    const seq = this.sendRaw(build, operation);
    const replies: NlMessage[] = [];
    for (;;) {
      for (const m of this.recvMessages(operation)) {
        if (m.seq !== seq) continue;
        if (m.type === C.NLMSG_ERROR) return { errno: errorErrno(m), replies };
        replies.push(m);
      }
    }
  }

  /** Sends a dump request and collects every answer until NLMSG_DONE. */
  dump(build: (seq: number) => Buffer, operation: string): NlMessage[] {
    const seq = this.sendRaw(build, operation);
    const out: NlMessage[] = [];
    for (;;) {
      for (const m of this.recvMessages(operation)) {
        if (m.seq !== seq) continue;
        if (m.type === C.NLMSG_DONE) return out;
        if (m.type === C.NLMSG_ERROR) {
          const errno = errorErrno(m);
          if (errno !== 0) throw new NetlinkError(operation, errno);
          return out;
        }
        out.push(m);
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc().close(this.fd);
  }
}
