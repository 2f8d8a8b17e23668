// The channel between a TUN worker and the main thread: the SharedRing the TUN uses (packets written into
// shared slots, published in batches, Atomics.waitAsync on the main thread) vs transferred ArrayBuffers
// (postMessage with a transfer list, buffers sent back for reuse). Same batch size, same bound on packets in
// flight, same per-packet work on the main thread (a view per packet, one byte read). Packets/s and ratio.
import { MessageChannel, Worker } from 'node:worker_threads';
import { it } from 'vitest';
import { SharedRing, waitForChange } from '@postern/bufferpool';

// Alternating rounds, median of each: the machine is shared, so one long run per variant is too noisy.
const SECONDS = Number(process.env['TUN_CHANNEL_ROUND_SECONDS'] ?? 1);
const ROUNDS = Number(process.env['TUN_CHANNEL_ROUNDS'] ?? 5);
const SIZE = 1280;
const BATCH = 64;
const CAPACITY = 1024;

async function ring(): Promise<number> {
  const r = SharedRing.create({ slots: CAPACITY, slotSize: 1280 });
  const bell = new Int32Array(new SharedArrayBuffer(8));
  const w = new Worker(new URL('./channel.worker.mjs', import.meta.url), { workerData: { mode: 'ring', ring: r.sab, bell: bell.buffer, batch: BATCH, size: SIZE, capacity: CAPACITY } });
  let got = 0;
  let touched = 0;
  // The clock starts at the first batch: worker start-up (seconds on a loaded machine) is not the channel.
  while (r.head() === 0) await waitForChange(bell, 0, 0, 100);
  const state = { running: true };
  const timer = setTimeout(() => (state.running = false), SECONDS * 1000);
  while (state.running) {
    const seen = Atomics.load(bell, 0);
    const tail = r.tail();
    const n = (r.head() - tail) | 0;
    if (n === 0) {
      await waitForChange(bell, 0, seen, 100);
      continue;
    }
    for (let i = 0; i < n; i++) {
      const seq = (tail + i) | 0;
      const p = r.slot(seq).subarray(0, r.meta[r.metaIndex(seq)] ?? 0);
      touched += p[0] ?? 0;
    }
    r.release(n);
    got += n;
    // Let the event loop run between batches (timers, the other sources), as the tunnel loop does.
    await new Promise((res) => setImmediate(res));
  }
  clearTimeout(timer);
  r.requestStop();
  await w.terminate();
  return touched > 0 ? got / SECONDS : 0;
}

async function transfer(): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const bell = new Int32Array(new SharedArrayBuffer(8));
  const control = SharedRing.create({ slots: 2, slotSize: 8 });
  const w = new Worker(new URL('./channel.worker.mjs', import.meta.url), {
    workerData: { mode: 'transfer', ring: control.sab, bell: bell.buffer, batch: BATCH, size: SIZE, capacity: CAPACITY, port: port2 },
    transferList: [port2],
  });
  let got = 0;
  let touched = 0;
  let started: (() => void) | undefined;
  const first = new Promise<void>((r) => (started = r));
  w.on('message', (m: { buf: ArrayBuffer; n: number }) => {
    started?.();
    const view = new Uint8Array(m.buf);
    for (let i = 0; i < m.n; i++) {
      const p = view.subarray(i * SIZE, (i + 1) * SIZE);
      touched += p[0] ?? 0;
    }
    got += m.n;
    port1.postMessage(m.buf, [m.buf]);
    Atomics.add(bell, 1, 1);
    Atomics.notify(bell, 1);
  });
  // The clock starts at the first batch, as for the ring.
  await first;
  const before = got;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const counted = got - before;
  control.requestStop();
  await w.terminate();
  port1.close();
  return touched > 0 ? counted / SECONDS : 0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)] ?? 0;
}

it('TUN channel: SharedRing vs transferred ArrayBuffers (worker -> main, 1280-byte packets, batches of 64)', async () => {
  const ra: number[] = [];
  const rb: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    ra.push(await ring());
    rb.push(await transfer());
  }
  const a = median(ra);
  const b = median(rb);
  const k = (xs: number[]): string => xs.map((x) => (x / 1e3).toFixed(0)).join(', ');
  process.stdout.write(
    `\nTUN channel worker -> main thread, ${SIZE}-byte packets, batches of ${BATCH}, ${CAPACITY} in flight, median of ${ROUNDS} alternating ${SECONDS} s rounds\n` +
      `(ring kpps: ${k(ra)}; transfer kpps: ${k(rb)})\n` +
      `| channel | packets/s | Gbit/s | vs ring |\n|---|---|---|---|\n` +
      `| SharedRing (current) | ${(a / 1e3).toFixed(0)} kpps | ${((a * SIZE * 8) / 1e9).toFixed(2)} | x1.00 |\n` +
      `| transferred ArrayBuffers | ${(b / 1e3).toFixed(0)} kpps | ${((b * SIZE * 8) / 1e9).toFixed(2)} | x${(b / a).toFixed(2)} |\n`,
  );
});
