// @ts-check
// TUN I/O worker: one per queue and direction. Imports node:*, koffi and plain .mjs modules (see docs/conventions.md).
//
// role 'reader': reads packets from the (non-blocking) TUN fd straight into the free slots of its ring and
//   publishes them in batches. When the ring is full it stops reading (backpressure) and waits for the main
//   thread to release slots. It waits for data in poll() on [tun fd, stop eventfd] with a timeout, so a stop
//   request wakes it at once (eventfd) or at the latest after `pollTimeoutMs` (stop flag).
// With `offloads` (IFF_VNET_HDR), every read and write carries a virtio_net_hdr: the reader splits the
//   super-packets it reads into MTU-sized packets (offload.worker.mjs) before they enter the ring; the writer
//   coalesces consecutive TCP segments of one flow into one super-packet per write (and same-size UDP
//   datagrams of one flow into one UDP GSO write where the device took USO).
// role 'writer': writes the packets the main thread queued in its ring to the TUN fd, releasing slots as it
//   goes. On stop it first drains what is queued (the outbound flush), then exits; a second stop level
//   (STOP = 2) makes it exit without draining.
//
// Ring layout (must match libs/connlib/bufferpool/src/ring.ts): Int32 control words
// [HEAD, TAIL, STOP, DONE, STALLS, SLOTS, SLOT_SIZE, ERRNO, TX_ERRORS], metadata of 16 Int32 per slot at
// byte 64 (word 0 = length), slot data after the metadata.
import { workerData, isMainThread, parentPort } from 'node:worker_threads';
import koffi from 'koffi';
import { gcRecorder } from '@postern/bufferpool/worker-gc';
import { MAX_SUPER_PACKET, VNET_HDR_LEN, coalesce, memcpyInto, segmentCount, simdScratch, splitPacket } from './offload.worker.mjs';

const HEAD = 0;
const TAIL = 1;
const STOP = 2;
const DONE = 3;
const STALLS = 4;
const SLOTS = 5;
const SLOT_SIZE = 6;
const ERRNO = 7;
const TX_ERRORS = 8;
/** Reader with offloads: packets read and dropped because their virtio header or headers were malformed. */
const RX_MALFORMED = 9;
/** Reader: super-packets read (split into > 1 packet); writer: super-packets written (> 1 packet coalesced). */
const SUPER = 10;
/** Packets those super-packets were split into / coalesced from. */
const SUPER_SEGMENTS = 11;
const CONTROL_BYTES = 64;
const META_INTS = 16;
const BELL_RX = 0;
const BELL_TX = 1;

const EAGAIN = 11;
const EINTR = 4;
const POLLIN = 1;
const POLLOUT = 4;

/**
 * @typedef {{ role: 'reader' | 'writer', fd: number, stopFd: number, ring: SharedArrayBuffer,
 *   bell: SharedArrayBuffer, batch: number, pollTimeoutMs: number, offloads: boolean, uso?: boolean, gcStats?: boolean }} TunWorkerData
 */

function main(/** @type {TunWorkerData} */ data) {
  const libc = koffi.load('libc.so.6');
  const read = libc.func('intptr_t read(int fd, uintptr_t buf, size_t count)');
  const write = libc.func('intptr_t write(int fd, uintptr_t buf, size_t count)');
  const writev = libc.func('intptr_t writev(int fd, uintptr_t iov, int iovcnt)');
  const poll = libc.func('int poll(uintptr_t fds, unsigned long nfds, int timeout)');
  // For splitPacket's copy hook (memcpyInto: the source as a view, see there).
  const memcpy = libc.func('uintptr_t memcpy(uintptr_t dst, void *src, size_t n)');
  // The address of a (Shared)ArrayBuffer's memory: memmove(dst, dst, 0) returns dst.
  const addressOf = libc.func('uintptr_t memmove(void *dst, void *src, size_t n)');

  const control = new Int32Array(data.ring, 0, CONTROL_BYTES / 4);
  const slots = control[SLOTS] ?? 0;
  const slotSize = control[SLOT_SIZE] ?? 0;
  const mask = slots - 1;
  const meta = new Int32Array(data.ring, CONTROL_BYTES, slots * META_INTS);
  const dataBytes = new Uint8Array(data.ring, CONTROL_BYTES + slots * META_INTS * 4, slots * slotSize);
  const dataAddr = Number(addressOf(dataBytes, dataBytes, 0));
  const bell = new Int32Array(data.bell);
  const recordGc = gcRecorder(data.gcStats === true, control);

  // struct pollfd { int fd; short events; short revents; } x 2: the TUN fd and the stop eventfd.
  const pollBuf = new Int32Array(new SharedArrayBuffer(16));
  const pollAddr = Number(addressOf(pollBuf, pollBuf, 0));
  const pollEvents = new Int16Array(pollBuf.buffer);
  pollBuf[0] = data.fd;
  pollBuf[2] = data.stopFd;
  pollEvents[6] = POLLIN; // events of pollfd[1] (the stop eventfd): Int16 index 6, not 5 (that is the fd's high half)
  const timeout = data.pollTimeoutMs;
  parentPort?.postMessage('ready');

  /** @param {number} events */
  function waitFd(events) {
    pollEvents[2] = events;
    pollEvents[3] = 0;
    pollEvents[7] = 0;
    poll(pollAddr, 2, timeout);
  }

  if (data.role === 'reader' && data.offloads) {
    readSplitting();
  } else if (data.role === 'writer' && data.offloads) {
    writeCoalescing();
  } else if (data.role === 'reader') {
    const batch = data.batch;
    for (;;) {
      if (Atomics.load(control, STOP) !== 0) break;
      const head = Atomics.load(control, HEAD);
      const tail = Atomics.load(control, TAIL);
      const free = slots - ((head - tail) | 0);
      if (free <= 0) {
        // Backpressure: the channel is full, stop reading until the main thread releases slots.
        Atomics.add(control, STALLS, 1);
        Atomics.wait(control, TAIL, tail, timeout);
        continue;
      }
      const want = free < batch ? free : batch;
      let n = 0;
      let fatal = 0;
      while (n < want) {
        const slot = (head + n) & mask;
        const r = Number(read(data.fd, dataAddr + slot * slotSize, slotSize));
        if (r < 0) {
          const e = koffi.errno();
          if (e === EINTR) continue;
          if (e !== EAGAIN) fatal = e;
          break;
        }
        meta[slot * META_INTS] = r;
        n++;
      }
      if (n > 0) {
        Atomics.add(control, HEAD, n);
        Atomics.notify(control, HEAD);
        Atomics.add(bell, BELL_RX, 1);
        Atomics.notify(bell, BELL_RX);
      }
      if (fatal !== 0) {
        Atomics.store(control, ERRNO, fatal);
        break;
      }
      if (n < want) waitFd(POLLIN);
    }
  } else {
    for (;;) {
      const stop = Atomics.load(control, STOP);
      if (stop >= 2) break;
      const head = Atomics.load(control, HEAD);
      let tail = Atomics.load(control, TAIL);
      const avail = (head - tail) | 0;
      if (avail <= 0) {
        if (stop !== 0) break; // drained: the outbound flush is complete
        Atomics.wait(control, HEAD, head, timeout);
        continue;
      }
      let done = 0;
      while (done < avail) {
        const slot = tail & mask;
        const len = meta[slot * META_INTS] ?? 0;
        const r = Number(write(data.fd, dataAddr + slot * slotSize, len));
        if (r < 0) {
          const e = koffi.errno();
          if (e === EINTR) continue;
          if (e === EAGAIN) {
            if (Atomics.load(control, STOP) >= 2) break;
            waitFd(POLLOUT);
            continue;
          }
          // The kernel refused this packet (malformed, device down): count it and go on.
          Atomics.add(control, TX_ERRORS, 1);
          Atomics.store(control, ERRNO, e);
        }
        done++;
        tail = (tail + 1) | 0;
        if ((done & 63) === 0) release(64);
      }
      release(done & 63);
    }
  }
  recordGc();
  Atomics.store(control, DONE, 1);
  Atomics.notify(control, DONE);

  // Super-packets are read whole into `scratch` (virtio header + up to 64 KiB) and split into ring slots.
  function readSplitting() {
    const batch = data.batch;
    // Super-packets are read into the checksum module's memory: the split sums each segment's payload there
    // with WebAssembly SIMD (offload.worker.mjs).
    const scratch = simdScratch(VNET_HDR_LEN + MAX_SUPER_PACKET + 64);
    const scratchAddr = Number(addressOf(scratch, scratch, 0));
    const offs = new Int32Array(slots);
    const lens = new Int32Array(slots);
    // Packets and payloads go from the scratch to their slots by memcpy, not V8's byte-wise shared copy (splitPacket).
    const copy = memcpyInto(memcpy, dataAddr, scratch);
    let pending = 0; // bytes of a super-packet read but not yet split (waiting for room)
    let pendingCount = 0;
    for (;;) {
      if (Atomics.load(control, STOP) !== 0) break;
      const head = Atomics.load(control, HEAD);
      const tail = Atomics.load(control, TAIL);
      const free = slots - ((head - tail) | 0);
      let n = 0;
      let fatal = 0;
      let drained = false;
      while (n < batch) {
        if (pending === 0) {
          const r = Number(read(data.fd, scratchAddr, scratch.length));
          if (r < 0) {
            const e = koffi.errno();
            if (e === EINTR) continue;
            if (e !== EAGAIN) fatal = e;
            drained = true;
            break;
          }
          const count = segmentCount(scratch, r, slotSize);
          if (count < 0 || count > slots) {
            Atomics.add(control, RX_MALFORMED, 1);
            continue;
          }
          pending = r;
          pendingCount = count;
        }
        if (pendingCount > free - n) break; // no room: publish what we have, then wait
        for (let k = 0; k < pendingCount; k++) offs[k] = ((head + n + k) & mask) * slotSize;
        const c = splitPacket(scratch, pending, dataBytes, offs, lens, slotSize, pendingCount, copy);
        pending = 0;
        if (c < 0) {
          Atomics.add(control, RX_MALFORMED, 1);
          continue;
        }
        for (let k = 0; k < c; k++) meta[((head + n + k) & mask) * META_INTS] = lens[k] ?? 0;
        if (c > 1) {
          Atomics.add(control, SUPER, 1);
          Atomics.add(control, SUPER_SEGMENTS, c);
        }
        n += c;
      }
      if (n > 0) {
        Atomics.add(control, HEAD, n);
        Atomics.notify(control, HEAD);
        Atomics.add(bell, BELL_RX, 1);
        Atomics.notify(bell, BELL_RX);
      }
      if (fatal !== 0) {
        Atomics.store(control, ERRNO, fatal);
        break;
      }
      if (drained) {
        waitFd(POLLIN);
      } else if (pending !== 0 && n === 0) {
        // Backpressure: the channel has no room for the packet in hand; stop reading until it has.
        Atomics.add(control, STALLS, 1);
        Atomics.wait(control, TAIL, tail, timeout);
      }
    }
  }

  // Coalesced packets are assembled in `out` (virtio header + up to 64 KiB) and written with one write().
  function writeCoalescing() {
    const out = new Uint8Array(new SharedArrayBuffer(VNET_HDR_LEN + MAX_SUPER_PACKET + 64));
    const outAddr = Number(addressOf(out, out, 0));
    const offs = new Int32Array(slots);
    const lens = new Int32Array(slots);
    const result = new Int32Array(3);
    // Gather mode: a coalesced write is the head (virtio header + first packet, in `out`) and the following
    // payloads where they lie in the ring, one writev: no copy of the ring's bytes (V8 copies a
    // SharedArrayBuffer's with relaxed atomic moves, ~2.5x a memcpy). struct iovec { void *base; size_t len; }.
    const ranges = new Int32Array(2 * slots);
    const iovBytes = new Uint8Array(new SharedArrayBuffer(16 * (slots + 1)));
    const iov = new DataView(iovBytes.buffer);
    const iovAddr = Number(addressOf(iovBytes, iovBytes, 0));
    /** @param {number} i @param {number} addr @param {number} len */
    const setIov = (i, addr, len) => {
      iov.setUint32(16 * i, addr % 0x1_0000_0000, true);
      iov.setUint32(16 * i + 4, Math.floor(addr / 0x1_0000_0000), true);
      iov.setUint32(16 * i + 8, len, true);
      iov.setUint32(16 * i + 12, 0, true);
    };
    const uso = data.uso === true; // the device took TUN_F_USO4/6: UDP datagrams are coalesced too
    for (;;) {
      const stop = Atomics.load(control, STOP);
      if (stop >= 2) break;
      const head = Atomics.load(control, HEAD);
      const tail = Atomics.load(control, TAIL);
      const avail = (head - tail) | 0;
      if (avail <= 0) {
        if (stop !== 0) break; // drained: the outbound flush is complete
        Atomics.wait(control, HEAD, head, timeout);
        continue;
      }
      for (let k = 0; k < avail; k++) {
        const slot = (tail + k) & mask;
        offs[k] = slot * slotSize;
        lens[k] = meta[slot * META_INTS] ?? 0;
      }
      let k = 0;
      let unreleased = 0;
      while (k < avail) {
        coalesce(dataBytes, offs, lens, k, avail - k, out, result, uso, ranges);
        const used = result[0] ?? 1;
        const bytes = result[1] ?? 0;
        const gathered = result[2] ?? 0;
        if (gathered > 0) {
          setIov(0, outAddr, VNET_HDR_LEN + (lens[k] ?? 0));
          for (let r = 0; r < gathered; r++) setIov(r + 1, dataAddr + (ranges[2 * r] ?? 0), ranges[2 * r + 1] ?? 0);
        }
        let failed = bytes === 0;
        while (!failed) {
          const r = Number(gathered > 0 ? writev(data.fd, iovAddr, gathered + 1) : write(data.fd, outAddr, bytes));
          if (r >= 0) break;
          const e = koffi.errno();
          if (e === EINTR) continue;
          if (e === EAGAIN) {
            if (Atomics.load(control, STOP) >= 2) break;
            waitFd(POLLOUT);
            continue;
          }
          Atomics.store(control, ERRNO, e);
          failed = true;
        }
        if (failed) Atomics.add(control, TX_ERRORS, used);
        else if (used > 1) {
          Atomics.add(control, SUPER, 1);
          Atomics.add(control, SUPER_SEGMENTS, used);
        }
        k += used;
        unreleased += used;
        if (unreleased >= 64) {
          release(unreleased);
          unreleased = 0;
        }
        if (Atomics.load(control, STOP) >= 2) break;
      }
      release(unreleased);
    }
  }

  /** @param {number} n */
  function release(n) {
    if (n === 0) return;
    Atomics.add(control, TAIL, n);
    Atomics.notify(control, TAIL);
    Atomics.add(bell, BELL_TX, 1);
    Atomics.notify(bell, BELL_TX);
  }
}

if (!isMainThread && workerData !== null && typeof workerData === 'object' && 'role' in workerData) {
  main(/** @type {TunWorkerData} */ (workerData));
}
