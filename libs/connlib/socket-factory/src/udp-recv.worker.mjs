// @ts-check
// UDP receive worker: recvmmsg (with UDP_GRO when enabled) straight into the slots of a shared ring, one
// syscall per batch, published to the main thread with one Atomics.notify per batch. Imports node:*, koffi
// and plain .mjs modules (see docs/conventions.md). When the ring is full it stops reading (backpressure; the
// kernel's socket buffer absorbs or drops, counted by the kernel). It waits in poll() on [socket, stop
// eventfd] with a timeout, so a stop request wakes it at once.
//
// Ring layout (must match libs/connlib/bufferpool/src/ring.ts): control Int32 words [HEAD, TAIL, STOP, DONE,
// STALLS, SLOTS, SLOT_SIZE, ERRNO], 16 Int32 metadata words per slot at byte 64: [0] length, [1] GRO segment
// size (0 = one datagram), [2..8] the source sockaddr (written there by the kernel); then the slot data.
import { workerData, isMainThread, parentPort } from 'node:worker_threads';
import koffi from 'koffi';
import { gcRecorder } from '@postern/bufferpool/worker-gc';

const HEAD = 0;
const TAIL = 1;
const STOP = 2;
const DONE = 3;
const STALLS = 4;
const SLOTS = 5;
const SLOT_SIZE = 6;
const ERRNO = 7;
const CONTROL_BYTES = 64;
const META_INTS = 16;

const EAGAIN = 11;
const EINTR = 4;
const POLLIN = 1;
const MSG_DONTWAIT = 0x40;
const SOL_UDP = 17;
const UDP_GRO = 104;
const MMSG = 64; // sizeof(struct mmsghdr)
const CMSG_SPACE = 32; // room for one UDP_GRO cmsg (CMSG_SPACE(4) = 24), 8-aligned
const NAME_LEN = 28;
const MAX_BATCH = 64;

/** @typedef {{ fd: number, stopFd: number, ring: SharedArrayBuffer, bell: SharedArrayBuffer, pollTimeoutMs: number, gcStats?: boolean }} UdpWorkerData */

function main(/** @type {UdpWorkerData} */ data) {
  const libc = koffi.load('libc.so.6');
  const recvmmsg = libc.func('int recvmmsg(int fd, uintptr_t msgvec, unsigned int vlen, int flags, uintptr_t timeout)');
  const poll = libc.func('int poll(uintptr_t fds, unsigned long nfds, int timeout)');
  const addressOf = libc.func('uintptr_t memmove(void *dst, void *src, size_t n)');

  const control = new Int32Array(data.ring, 0, CONTROL_BYTES / 4);
  const slots = control[SLOTS] ?? 0;
  const slotSize = control[SLOT_SIZE] ?? 0;
  const mask = slots - 1;
  const meta = new Int32Array(data.ring, CONTROL_BYTES, slots * META_INTS);
  const dataBytes = new Uint8Array(data.ring, CONTROL_BYTES + slots * META_INTS * 4, slots * slotSize);
  const dataAddr = Number(addressOf(dataBytes, dataBytes, 0));
  const metaAddr = Number(addressOf(meta, meta, 0));
  const bell = new Int32Array(data.bell);
  const recordGc = gcRecorder(data.gcStats === true, control);

  // One mmsghdr, iovec and control buffer per ring slot, set up once; recvmmsg fills slots head.. in place.
  const hdrs = new SharedArrayBuffer(slots * (MMSG + 16 + CMSG_SPACE));
  const hdrAddr = Number(addressOf(new Uint8Array(hdrs), new Uint8Array(hdrs), 0));
  const iovOff = slots * MMSG;
  const cmsgOff = iovOff + slots * 16;
  const h32 = new Uint32Array(hdrs);
  const hdv = new DataView(hdrs);
  for (let s = 0; s < slots; s++) {
    const m = s * MMSG;
    hdv.setBigUint64(m, BigInt(metaAddr + (s * META_INTS + 2) * 4), true); // msg_name -> meta words 2..8
    hdv.setBigUint64(m + 16, BigInt(hdrAddr + iovOff + s * 16), true); // msg_iov
    hdv.setBigUint64(m + 24, 1n, true); // msg_iovlen
    hdv.setBigUint64(m + 32, BigInt(hdrAddr + cmsgOff + s * CMSG_SPACE), true); // msg_control
    hdv.setBigUint64(iovOff + s * 16, BigInt(dataAddr + s * slotSize), true);
    hdv.setBigUint64(iovOff + s * 16 + 8, BigInt(slotSize), true);
  }

  const pollBuf = new Int32Array(new SharedArrayBuffer(16));
  const pollAddr = Number(addressOf(pollBuf, pollBuf, 0));
  const pollEvents = new Int16Array(pollBuf.buffer);
  pollBuf[0] = data.fd;
  pollBuf[2] = data.stopFd;
  pollEvents[2] = POLLIN;
  pollEvents[6] = POLLIN; // events of pollfd[1] (the stop eventfd): Int16 index 6, not 5 (that is the fd's high half)
  const timeout = data.pollTimeoutMs;
  parentPort?.postMessage('ready');

  for (;;) {
    if (Atomics.load(control, STOP) !== 0) break;
    const head = Atomics.load(control, HEAD);
    const tail = Atomics.load(control, TAIL);
    const free = slots - ((head - tail) | 0);
    if (free <= 0) {
      Atomics.add(control, STALLS, 1);
      Atomics.wait(control, TAIL, tail, timeout);
      continue;
    }
    const first = head & mask;
    let vlen = Math.min(free, slots - first, MAX_BATCH);
    for (let i = 0; i < vlen; i++) {
      const w = ((first + i) * MMSG) / 4;
      h32[w + 2] = NAME_LEN; // msg_namelen
      h32[w + 10] = CMSG_SPACE; // msg_controllen (low half)
      h32[w + 11] = 0;
      h32[w + 12] = 0; // msg_flags
    }
    const n = recvmmsg(data.fd, hdrAddr + first * MMSG, vlen, MSG_DONTWAIT, 0);
    if (n < 0) {
      const e = koffi.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) {
        pollEvents[3] = 0;
        pollEvents[7] = 0;
        poll(pollAddr, 2, timeout);
        continue;
      }
      Atomics.store(control, ERRNO, e);
      break;
    }
    for (let i = 0; i < n; i++) {
      const s = first + i;
      const w = (s * MMSG) / 4;
      meta[s * META_INTS] = h32[w + 14] ?? 0; // msg_len
      let seg = 0;
      const clen = h32[w + 10] ?? 0;
      if (clen >= 20) {
        const c = (cmsgOff + s * CMSG_SPACE) / 4;
        if (h32[c + 2] === SOL_UDP && h32[c + 3] === UDP_GRO) seg = h32[c + 4] ?? 0;
      }
      meta[s * META_INTS + 1] = seg;
    }
    if (n > 0) {
      Atomics.add(control, HEAD, n);
      Atomics.notify(control, HEAD);
      Atomics.add(bell, 0, 1);
      Atomics.notify(bell, 0);
    }
    vlen = 0;
  }
  recordGc();
  Atomics.store(control, DONE, 1);
}

if (!isMainThread && workerData !== null && typeof workerData === 'object' && 'ring' in workerData) {
  main(/** @type {UdpWorkerData} */ (workerData));
}
