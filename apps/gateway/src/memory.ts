// Memory hygiene of a long-running gateway (issue 11: RSS per idle client). Two measured sources of RSS
// growth that are not per-client state:
// - V8's young generation doubles (up to 2 x 16 MiB) when much survives scavenges, which a burst of client
//   authorisations and handshakes does; it never shrinks back while the process stays busy. `capYoungGeneration`
//   lets it grow to a cap and then stops further growth (`--semi-space-growth-factor=1`, read by V8 at each
//   growth step, so it may be set at run time).
// - glibc keeps the heap pages freed by handshake crypto and message parsing. `MemoryTrimmer` returns them
//   with `malloc_trim(0)` once a burst of connections has settled.
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import koffi from 'koffi';

/** The committed size of V8's new space (both semi-spaces), in bytes. */
export function newSpaceBytes(): number {
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_size;
  return 0;
}

/**
 * Lets the young generation (new space) grow up to `capBytes`, then no further: checked after every GC and
 * once now. Returns a function that stops watching (the cap stays once set). `capBytes <= 0`: no cap.
 */
export function capYoungGeneration(capBytes: number, onCapped?: (bytes: number) => void): () => void {
  if (capBytes <= 0) return () => undefined;
  let capped = false;
  const check = (): void => {
    if (capped) return;
    const size = newSpaceBytes();
    if (size < capBytes) return;
    capped = true;
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    obs.disconnect();
    onCapped?.(size);
  };
  const obs = new PerformanceObserver(check);
  obs.observe({ entryTypes: ['gc'] });
  check();
  return () => {
    obs.disconnect();
  };
}

type MallocTrim = (pad: number) => number;
let mallocTrim: MallocTrim | null | undefined;

/** glibc's `malloc_trim(0)`: returns free heap pages to the kernel. False where it is unavailable (not glibc). */
export function trimMalloc(): boolean {
  if (mallocTrim === undefined) {
    try {
      mallocTrim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as MallocTrim;
    } catch {
      mallocTrim = null;
    }
  }
  if (mallocTrim === null) return false;
  mallocTrim(0);
  return true;
}

/**
 * Trims malloc once a burst of activity (client connections) has been quiet for `quietMs`: `note()` on each
 * event re-arms the timer. The timer does not keep the process alive.
 */
export class MemoryTrimmer {
  private timer: NodeJS.Timeout | undefined;
  /** Number of trims done (tests, logs). */
  trims = 0;

  constructor(
    private readonly quietMs: number,
    private readonly trim: () => boolean = trimMalloc,
  ) {}

  note(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.trim()) this.trims++;
    }, this.quietMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
