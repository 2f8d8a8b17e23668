// @ts-check
// Test harness: reads IP packets from a non-blocking TUN fd with poll() (100 ms timeout, so that a stop
// flag in shared memory ends it promptly) and posts them to the parent in batches.
import koffi from 'koffi';
import { parentPort, workerData } from 'node:worker_threads';

const libc = koffi.load('libc.so.6');
const poll = libc.func('int poll(void *fds, unsigned long nfds, int timeout)');
const read = libc.func('long read(int fd, void *buf, unsigned long count)');

/** @type {{ fd: number, stop: Int32Array }} */
const { fd, stop } = workerData;
const POLLIN = 1;
const SLOT = 2048;
const BATCH = 64;
const pfd = new Uint8Array(8);
const dv = new DataView(pfd.buffer);
dv.setInt32(0, fd, true);
dv.setInt16(4, POLLIN, true);

while (Atomics.load(stop, 0) === 0) {
  const n = poll(pfd, 1, 100);
  if (n <= 0) continue;
  const buf = new ArrayBuffer(SLOT * BATCH);
  /** @type {number[]} */
  const lens = [];
  for (let i = 0; i < BATCH; i++) {
    const r = Number(read(fd, new Uint8Array(buf, i * SLOT, SLOT), SLOT));
    if (r <= 0) break;
    lens.push(r);
  }
  if (lens.length > 0) parentPort?.postMessage({ buf, lens }, [buf]);
}
parentPort?.postMessage({ stopped: true });
