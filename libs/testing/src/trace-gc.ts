// `node --trace-gc` lines, the one parser the bench (GC pauses) and the faults soak (heap floor) share:
//
//   [12345:0x5581c0e0]     8075 ms: Mark-Compact 12.1 (14.0) -> 10.2 (13.5) MB, 3.10 / 0.00 ms  (average mu ...
//
// The "[pid:isolate]" tag and the "N ms:" time stamp (since that isolate started) are optional (V8 prints
// them, hand-written samples may not). Worker isolates carry their own tags and their own clocks; the main
// thread's isolate is the first one that collects (it loads the bundle before any worker exists).
// Anything that is not a whole GC line (logs, truncated or garbled lines) gives undefined, never an exception.

export type GcKind = 'Scavenge' | 'Minor Mark-Compact' | 'Mark-Compact' | 'Mark-Compact (reduce)' | 'Mark-sweep';

export interface TraceGcEvent {
  /** Isolate tag, e.g. "0x5581c0e0" (undefined when the line has no "[pid:isolate]" tag). */
  readonly isolate: string | undefined;
  /** Milliseconds since that isolate started (undefined without a time stamp). */
  readonly atMs: number | undefined;
  readonly kind: GcKind;
  /** A full collection (Mark-Compact, its "reduce" form, Mark-sweep), not a young-generation one. */
  readonly full: boolean;
  /** Heap used before and after the collection, MiB (V8 prints MB = 2^20 bytes). */
  readonly beforeMiB: number;
  readonly afterMiB: number;
  /** The pause on the main thread, ms (the first of "a / b ms"). */
  readonly pauseMs: number;
}

/** Longer lines are not GC lines (binary noise, a log line without end); bounds the regex's work too. */
export const MAX_TRACE_GC_LINE = 4096;

const NUM = String.raw`(\d+(?:\.\d+)?)`;
const LINE = new RegExp(
  String.raw`(?:\[\d+:(0x[0-9a-f]+)\]\s+)?(?:${NUM} ms: )?(Scavenge|Minor Mark-Compact|Mark-Compact \(reduce\)|Mark-Compact|Mark-sweep)(?=\s)[^\n]*?` +
    String.raw`${NUM} \(${NUM}\) -> ${NUM} \(${NUM}\) MB,\s*${NUM}\s*\/\s*${NUM}\s*ms`,
);
const FULL: ReadonlySet<GcKind> = new Set<GcKind>(['Mark-Compact', 'Mark-Compact (reduce)', 'Mark-sweep']);

function isKind(s: string | undefined): s is GcKind {
  return s === 'Scavenge' || s === 'Minor Mark-Compact' || s === 'Mark-Compact' || s === 'Mark-Compact (reduce)' || s === 'Mark-sweep';
}

/** One line of `--trace-gc` output; undefined for anything else. */
export function parseTraceGcLine(line: string): TraceGcEvent | undefined {
  if (line.length > MAX_TRACE_GC_LINE) return undefined;
  const m = LINE.exec(line);
  if (m === null) return undefined;
  const [, isolate, at, kind, before, , after, , pause] = m;
  if (!isKind(kind)) return undefined;
  const beforeMiB = Number(before);
  const afterMiB = Number(after);
  const pauseMs = Number(pause);
  const atMs = at === undefined ? undefined : Number(at);
  if (!Number.isFinite(beforeMiB) || !Number.isFinite(afterMiB) || !Number.isFinite(pauseMs)) return undefined;
  if (atMs !== undefined && !Number.isFinite(atMs)) return undefined;
  return { isolate, atMs, kind, full: FULL.has(kind), beforeMiB, afterMiB, pauseMs };
}

/** Every GC line of a whole log, in order. */
export function parseTraceGcText(text: string): TraceGcEvent[] {
  const out: TraceGcEvent[] = [];
  for (const line of text.split('\n')) {
    const e = parseTraceGcLine(line);
    if (e !== undefined) out.push(e);
  }
  return out;
}

/**
 * The isolate tag of the main thread among GC lines in log order: the first line's (the main isolate collects
 * while loading the bundle, before any worker thread exists); worker isolates have their own tags and clocks.
 * A process that re-executes itself (postern-gateway started without its V8 flags: same pid, same log) has a
 * new main isolate in the new image: an isolate that first collects at under 3 s of its own clock and under
 * half the old main's last time (or just under it when the old image lived under 3 s), after which the old main
 * never collects again.
 */
export function mainIsolateOf(events: readonly TraceGcEvent[]): string | undefined {
  const es = events.filter((e) => e.isolate !== undefined);
  let main = es[0]?.isolate;
  let mainLast = es[0]?.atMs ?? 0;
  const lastIndex = new Map<string | undefined, number>();
  es.forEach((e, i) => lastIndex.set(e.isolate, i));
  for (let i = 1; i < es.length; i++) {
    const e = es[i];
    if (e === undefined) continue;
    const at = e.atMs ?? Number.POSITIVE_INFINITY;
    if (e.isolate === main) {
      mainLast = at;
      continue;
    }
    const oldMainGone = (lastIndex.get(main) ?? -1) < i;
    // the new image's clock restarted: its time is behind the old main's, by half, or at all when the old image
    // lived under 3 s (a re-exec happens at start-up: the old image's last collection can be at 300 ms, the new
    // image's first at 170)
    if (oldMainGone && at < 3000 && at < mainLast && (mainLast < 3000 || at < mainLast / 2)) {
      main = e.isolate;
      mainLast = at;
    }
  }
  return main;
}

/** GC lines from output that arrives in arbitrary chunks (a child's stdout); a line counts once it has ended. */
export class TraceGcLineReader {
  private rest = '';
  /** The current line grew past MAX_TRACE_GC_LINE: drop everything up to its end. */
  private overlong = false;

  /** Appends `chunk`; returns the GC lines it completed. */
  push(chunk: string): TraceGcEvent[] {
    const lines = (this.rest + chunk).split('\n');
    this.rest = lines.pop() ?? '';
    const out: TraceGcEvent[] = [];
    for (const line of lines) {
      const e = this.overlong ? undefined : parseTraceGcLine(line);
      this.overlong = false;
      if (e !== undefined) out.push(e);
    }
    if (this.rest.length > MAX_TRACE_GC_LINE) {
      this.rest = '';
      this.overlong = true;
    }
    return out;
  }
}
