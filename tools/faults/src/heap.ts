// The V8 heap left after each full GC (Mark-Compact), read from `node --trace-gc` output: the floor under the
// heap's sawtooth. A JavaScript leak raises that floor; RSS can also move for reasons the floor does not show
// (malloc arenas, the heap's reserve growing in steps), so a soak reports both.
//
// The lines are parsed by @postern/testing's trace-gc parser (shared with the bench); the main thread's
// isolate is the first one that collects (it loads the bundle before any worker exists).

import { TraceGcLineReader } from '@postern/testing';

export interface FullGc {
  /** Isolate tag, e.g. "0x5581c0e0". */
  readonly isolate: string;
  /** Milliseconds since that isolate started. */
  readonly atMs: number;
  /** Heap used after the collection, MiB (V8 prints MB = 2^20 bytes). */
  readonly afterMiB: number;
}

/** Collects full-GC lines from output that arrives in arbitrary chunks; other lines (logs) are ignored. */
export class FullGcCollector {
  private readonly reader = new TraceGcLineReader();
  private readonly all: FullGc[] = [];
  private main: string | undefined;

  push(chunk: string): void {
    for (const e of this.reader.push(chunk)) {
      if (e.isolate === undefined || e.atMs === undefined) continue;
      this.main ??= e.isolate;
      if (e.full) this.all.push({ isolate: e.isolate, atMs: e.atMs, afterMiB: e.afterMiB });
    }
  }

  /** Full GCs of the main thread's isolate, in order. */
  mainIsolate(): FullGc[] {
    return this.all.filter((g) => g.isolate === this.main);
  }

  /** Every full GC seen, of every isolate. */
  everyIsolate(): readonly FullGc[] {
    return this.all;
  }
}
