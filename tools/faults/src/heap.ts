// The V8 heap left after each full GC (Mark-Compact), read from `node --trace-gc` output: the floor under the
// heap's sawtooth. A JavaScript leak raises that floor; RSS can also move for reasons the floor does not show
// (malloc arenas, the heap's reserve growing in steps), so a soak reports both.
//
// The lines are parsed by @postern/testing's trace-gc parser (shared with the bench), which also tells the
// main thread's isolate (the first that collects, or a re-executed image's).

import { mainIsolateOf, TraceGcLineReader, type TraceGcEvent } from '@postern/testing';

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
  /** Every tagged GC line (young ones too: they tell which isolate is the main one). */
  private readonly events: TraceGcEvent[] = [];

  push(chunk: string): void {
    for (const e of this.reader.push(chunk)) if (e.isolate !== undefined && e.atMs !== undefined) this.events.push(e);
  }

  /** Full GCs of the main thread's isolate (of the new image, if the process re-executed itself), in order. */
  mainIsolate(): FullGc[] {
    const main = mainIsolateOf(this.events);
    return this.fullGcs().filter((g) => g.isolate === main);
  }

  /** Every full GC seen, of every isolate. */
  everyIsolate(): readonly FullGc[] {
    return this.fullGcs();
  }

  private fullGcs(): FullGc[] {
    return this.events.flatMap((e) => (e.full && e.isolate !== undefined && e.atMs !== undefined ? [{ isolate: e.isolate, atMs: e.atMs, afterMiB: e.afterMiB }] : []));
  }
}
