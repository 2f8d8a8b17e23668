// Memory hygiene of a long-running gateway (issue 11: RSS per idle client): glibc keeps the heap pages freed
// by handshake crypto and message parsing during a burst of client connections. `MemoryTrimmer` returns them
// with `malloc_trim(0)` once the burst has settled.
import koffi from 'koffi';

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
