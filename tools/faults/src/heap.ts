// The V8 heap left after each full GC (Mark-Compact), read from `node --trace-gc` output: the floor under the
// heap's sawtooth. A JavaScript leak raises that floor; RSS can also move for reasons the floor does not show
// (malloc arenas, the heap's reserve growing in steps), so a soak reports both.
//
//   [12345:0x5581c0e0]     8075 ms: Mark-Compact 12.1 (14.0) -> 10.2 (13.5) MB, 3.10 / 0.00 ms  (average mu ...
//
// The main thread's isolate is the first one that collects (it loads the bundle before any worker exists);
// worker isolates carry other tags and their own clocks.

export interface FullGc {
  /** Isolate tag, e.g. "0x5581c0e0". */
  readonly isolate: string;
  /** Milliseconds since that isolate started. */
  readonly atMs: number;
  /** Heap used after the collection, MiB (V8 prints MB = 2^20 bytes). */
  readonly afterMiB: number;
}

const TAGGED = /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+(?:\.\d+)?) ms: (Scavenge|Mark-Compact|Minor Mark-Compact|Mark-Compact \(reduce\)|Mark-sweep)\b[^\n]*?([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/;

/** Collects full-GC lines from output that arrives in arbitrary chunks; other lines (logs) are ignored. */
export class FullGcCollector {
  private rest = '';
  private readonly all: FullGc[] = [];
  private main: string | undefined;

  push(chunk: string): void {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    if (this.rest.length > 4096) this.rest = ''; // a line without end (binary noise) is not a GC line
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    const m = TAGGED.exec(line.trim());
    if (m === null) return;
    const [, isolate, at, kind, , , after] = m;
    if (isolate === undefined || at === undefined || after === undefined) return;
    this.main ??= isolate;
    if (kind !== 'Mark-Compact' && kind !== 'Mark-Compact (reduce)' && kind !== 'Mark-sweep') return;
    const afterMiB = Number(after);
    const atMs = Number(at);
    if (!Number.isFinite(afterMiB) || !Number.isFinite(atMs)) return;
    this.all.push({ isolate, atMs, afterMiB });
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
