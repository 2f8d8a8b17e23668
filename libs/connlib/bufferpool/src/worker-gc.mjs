// @ts-check
// The GC statistics of the I/O workers (tun.worker.mjs, udp-recv.worker.mjs), shared by them: plain ESM with
// only node:* imports, imported by the workers as `@postern/bufferpool/worker-gc` (package.json#exports). In the
// repo Node resolves that through the workspace's node_modules; the release build (tools/scripts/build-app.mjs)
// bundles each worker with what it imports, so dist/apps/<app>/ needs no node_modules/@postern.
import { GCProfiler } from 'node:v8';

// Ring control words (the same as RING_GC_* in ring.ts; test/unit/worker-gc.test.ts reads them back with those).
const GC_COUNT = 12;
const GC_MICROS = 13;
const GC_MAX_MICROS = 14;

/**
 * With `enabled`, records the worker's garbage collections (node:v8 GCProfiler: synchronous, needs no event
 * loop, which a blocking worker never runs) until the returned function writes count, total and longest pause
 * (microseconds) into the ring's control words GC_COUNT.. (see RING_GC_* and workerGcStats in ring.ts).
 * @param {boolean} enabled @param {Int32Array} control
 * @returns {() => void}
 */
export function gcRecorder(enabled, control) {
  if (!enabled) return () => undefined;
  const profiler = new GCProfiler();
  profiler.start();
  return () => {
    const s = profiler.stop();
    let total = 0;
    let max = 0;
    for (const e of s?.statistics ?? []) {
      total += e.cost;
      if (e.cost > max) max = e.cost;
    }
    Atomics.store(control, GC_COUNT, s?.statistics.length ?? 0);
    Atomics.store(control, GC_MICROS, Math.round(total));
    Atomics.store(control, GC_MAX_MICROS, Math.round(max));
  };
}
