// The workers' GC recorder (src/worker-gc.mjs, imported by tun.worker.mjs and udp-recv.worker.mjs), read back
// the way the main thread reads it: workerGcStats over the ring's RING_GC_* words.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { gcRecorder } from '@postern/bufferpool/worker-gc';
import { SharedRing, workerGcStats } from '../../src/index';

/** A full collection now, without --expose-gc on the command line. */
function collect(): void {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('no gc()');
  gc();
}

describe('gcRecorder', () => {
  it('writes the collections it saw into the ring words that workerGcStats reads', () => {
    const ring = SharedRing.create({ slots: 4, slotSize: 64 });
    const record = gcRecorder(true, ring.control);
    collect();
    collect();
    expect(workerGcStats([ring]).count).toBe(0); // nothing is written before the worker ends
    record();
    const stats = workerGcStats([ring]);
    expect(stats.count).toBeGreaterThanOrEqual(2);
    expect(stats.micros).toBeGreaterThan(0);
    expect(stats.maxMicros).toBeGreaterThan(0);
    expect(stats.maxMicros).toBeLessThanOrEqual(stats.micros);
  });

  it('records nothing when disabled', () => {
    const ring = SharedRing.create({ slots: 4, slotSize: 64 });
    const record = gcRecorder(false, ring.control);
    collect();
    record();
    expect(workerGcStats([ring])).toEqual({ count: 0, micros: 0, maxMicros: 0 });
  });
});
