// @ts-check
// rtnetlink listener thread for network_changes: opens a NETLINK_ROUTE socket subscribed to link, address
// and route groups (v4 + v6), dumps links, addresses and routes once (so the main thread knows the starting
// state), then forwards every datagram it receives. Blocks in poll(2) with a short timeout and checks a
// shared stop flag, so the thread ends within ~200 ms of being asked.
import { Buffer } from 'node:buffer';
import { closeSync, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;
const GROUPS = 0x1 | 0x10 | 0x40 | 0x100 | 0x400; // LINK, IPV4_IFADDR, IPV4_ROUTE, IPV6_IFADDR, IPV6_ROUTE
const POLLIN = 1;
const ENOBUFS = 105;
const EINTR = 4;
const NLMSG_DONE = 3;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const NLM_F_DUMP = 0x300;

/** @type {{ netnsPath?: string, stop: SharedArrayBuffer }} */
const data = workerData;
const stop = new Int32Array(data.stop);
const port = parentPort;
if (port === null) throw new Error('network_changes.worker.mjs must run as a worker');

const lib = koffi.load('libc.so.6');
const socket = lib.func('int socket(int, int, int)');
const bind = lib.func('int bind(int, const uint8_t *, uint32_t)');
const send = lib.func('intptr_t send(int, const uint8_t *, size_t, int)');
const recv = lib.func('intptr_t recv(int, _Out_ uint8_t *, size_t, int)');
const poll = lib.func('int poll(_Inout_ uint8_t *, uint64_t, int)');
const close = lib.func('int close(int)');
const setns = lib.func('int setns(int, int)');
const setsockopt = lib.func('int setsockopt(int, int, int, const uint8_t *, uint32_t)');

function fail(/** @type {string} */ what) {
  port?.postMessage({ kind: 'error', message: `${what} failed`, errno: koffi.errno() });
}

function main() {
  if (data.netnsPath !== undefined) {
    const fd = openSync(data.netnsPath, 'r');
    const r = Number(setns(fd, CLONE_NEWNET)); // this thread only
    closeSync(fd);
    if (r !== 0) return fail(`setns(${data.netnsPath})`);
  }
  const fd = Number(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (fd < 0) return fail('socket(AF_NETLINK)');
  try {
    const rcvbuf = Buffer.alloc(4);
    rcvbuf.writeInt32LE(1 << 20);
    setsockopt(fd, 1, 8, rcvbuf, 4); // SO_RCVBUF 1 MiB: bursts of route changes
    const sa = Buffer.alloc(12);
    sa.writeUInt16LE(AF_NETLINK, 0);
    sa.writeUInt32LE(GROUPS, 8);
    if (Number(bind(fd, sa, 12)) !== 0) return fail('bind(AF_NETLINK)');

    const buf = Buffer.alloc(1 << 16);
    const pfd = Buffer.alloc(8);
    const readOnce = (/** @type {number} */ timeoutMs) => {
      pfd.writeInt32LE(fd, 0);
      pfd.writeInt16LE(POLLIN, 4);
      pfd.writeInt16LE(0, 6);
      const r = Number(poll(pfd, 1, timeoutMs));
      if (r < 0) {
        const e = koffi.errno();
        if (e === EINTR) return 0;
        fail('poll');
        return -1;
      }
      if (r === 0) return 0;
      const n = Number(recv(fd, buf, buf.length, 0));
      if (n < 0) {
        const e = koffi.errno();
        if (e === ENOBUFS) {
          port?.postMessage({ kind: 'overrun' });
          return 0;
        }
        if (e === EINTR) return 0;
        fail('recv');
        return -1;
      }
      const copy = new Uint8Array(n);
      copy.set(buf.subarray(0, n));
      port?.postMessage({ kind: 'data', bytes: copy }, [copy.buffer]);
      return n;
    };
    /** True once the dump with this sequence number is complete. */
    const dumpDone = (/** @type {number} */ seq) => {
      let off = 0;
      // scan the last datagram for DONE/ERROR of our sequence
      const view = buf;
      return (/** @type {number} */ n) => {
        for (off = 0; off + 16 <= n; ) {
          const len = view.readUInt32LE(off);
          const type = view.readUInt16LE(off + 4);
          const s = view.readUInt32LE(off + 8);
          if (len < 16) break;
          if (s === seq && (type === NLMSG_DONE || type === NLMSG_ERROR)) return true;
          off += (len + 3) & ~3;
        }
        return false;
      };
    };
    // Starting state: links, then addresses, then routes (one dump at a time or the kernel says EBUSY).
    const dumps = [
      { type: 18, body: 16 }, // RTM_GETLINK, ifinfomsg
      { type: 22, body: 8 }, // RTM_GETADDR, ifaddrmsg
      { type: 26, body: 12 }, // RTM_GETROUTE, rtmsg
    ];
    let seq = 1;
    for (const d of dumps) {
      const msg = Buffer.alloc(16 + d.body);
      msg.writeUInt32LE(msg.length, 0);
      msg.writeUInt16LE(d.type, 4);
      msg.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
      msg.writeUInt32LE(seq, 8);
      if (Number(send(fd, msg, msg.length, 0)) < 0) return fail('send (dump)');
      const done = dumpDone(seq);
      for (;;) {
        if (Atomics.load(stop, 0) !== 0) return;
        const n = readOnce(200);
        if (n < 0) return;
        if (n > 0 && done(n)) break;
      }
      seq++;
    }
    port?.postMessage({ kind: 'ready' });
    while (Atomics.load(stop, 0) === 0) {
      if (readOnce(200) < 0) return;
    }
  } finally {
    close(fd);
  }
}

main();
