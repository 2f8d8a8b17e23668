// @ts-check
// Bench-only producer for channel.bench.ts: fills batches of packets (a copy of a template, standing in for
// read()) and hands them to the main thread either through a SharedRing (the layout of
// libs/connlib/bufferpool/src/ring.ts, as tun.worker.mjs does) or as transferred ArrayBuffers that the main
// thread sends back for reuse. Both bounded to the same number of packets in flight.
import { workerData, parentPort, receiveMessageOnPort } from 'node:worker_threads';

const HEAD = 0;
const TAIL = 1;
const STOP = 2;
const SLOTS = 5;
const SLOT_SIZE = 6;
const CONTROL_BYTES = 64;
const META_INTS = 16;

/** @type {{ mode: 'ring' | 'transfer', ring: SharedArrayBuffer, bell: SharedArrayBuffer, batch: number, size: number, capacity: number, port: import('node:worker_threads').MessagePort }} */
const data = workerData;
const template = new Uint8Array(data.size).fill(0x45);
const bell = new Int32Array(data.bell);
const control = new Int32Array(data.ring, 0, CONTROL_BYTES / 4);

if (data.mode === 'ring') {
  const slots = control[SLOTS] ?? 0;
  const slotSize = control[SLOT_SIZE] ?? 0;
  const mask = slots - 1;
  const meta = new Int32Array(data.ring, CONTROL_BYTES, slots * META_INTS);
  const bytes = new Uint8Array(data.ring, CONTROL_BYTES + slots * META_INTS * 4, slots * slotSize);
  while (Atomics.load(control, STOP) === 0) {
    const head = Atomics.load(control, HEAD);
    const tail = Atomics.load(control, TAIL);
    const free = slots - ((head - tail) | 0);
    if (free <= 0) {
      Atomics.wait(control, TAIL, tail, 100);
      continue;
    }
    const n = free < data.batch ? free : data.batch;
    for (let i = 0; i < n; i++) {
      const slot = (head + i) & mask;
      bytes.set(template, slot * slotSize);
      meta[slot * META_INTS] = template.length;
    }
    Atomics.add(control, HEAD, n);
    Atomics.add(bell, 0, 1);
    Atomics.notify(bell, 0);
  }
} else {
  /** @type {ArrayBuffer[]} */
  const pool = [];
  for (let i = 0; i < data.capacity / data.batch; i++) pool.push(new ArrayBuffer(data.batch * data.size));
  while (Atomics.load(control, STOP) === 0) {
    for (;;) {
      const m = receiveMessageOnPort(data.port);
      if (m === undefined) break;
      pool.push(/** @type {ArrayBuffer} */ (m.message));
    }
    const buf = pool.pop();
    if (buf === undefined) {
      Atomics.wait(bell, 1, Atomics.load(bell, 1), 100);
      continue;
    }
    const view = new Uint8Array(buf);
    for (let i = 0; i < data.batch; i++) view.set(template, i * data.size);
    parentPort?.postMessage({ buf, n: data.batch }, [buf]);
  }
}
