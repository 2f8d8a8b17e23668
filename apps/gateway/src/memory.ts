// Memory policy of a long-running gateway (issue 11: RSS per idle client). The glue (execve, malloc_trim) is
// @postern/bin-shared's; what the gateway decides is here:
// - it runs with a small V8 young generation (GATEWAY_PROCESS): the burst of handshakes when many clients
//   connect otherwise doubles the semi-spaces 1 -> 16 MiB for good (measured in the bench: 29.0 KiB RSS per
//   idle client with V8's default, 18.0 KiB with 2 MiB semi-spaces), and few malloc arenas (GATEWAY_PROCESS).
//   V8 reads the flag only when the heap is made (`v8.setFlagsFromString` before the bundle loads: 29.2 KiB,
//   no effect), glibc the variable when threads start, so main.ts re-executes node with them when it was
//   started without (`node main.js`; the systemd unit sets both);
// - glibc keeps the heap pages freed by handshake crypto and message parsing during a burst of connections:
//   `MemoryTrimmer` returns them with `malloc_trim(0)` once the burst has settled.
import { DATA_PLANE_NODE_FLAGS, DATA_PLANE_PROCESS, trimMalloc, type ProcessSettings } from '@postern/bin-shared';

/**
 * What the gateway runs with (a flag of the same name or a variable set by the user, with any value, wins):
 * 2 MiB semi-spaces, no memory reducer (DATA_PLANE_NODE_FLAGS: its full GCs paused traffic), and two glibc
 * malloc arenas for all threads instead of one per thread (up to 8 per core): the V8 compiler threads and the workers each kept their own arena's pages after the burst (bench, 1,000 idle
 * clients: 18.0 -> 13.3 KiB per client).
 */
export const GATEWAY_PROCESS: ProcessSettings = {
  ...DATA_PLANE_PROCESS,
  nodeFlags: ['--max-semi-space-size=2', ...DATA_PLANE_NODE_FLAGS],
  env: { MALLOC_ARENA_MAX: '2' },
};

/**
 * Trims malloc once a burst of activity (client connections) has been quiet for `quietMs`: `note()` on each
 * event re-arms the timer. The timer does not keep the process alive. Where malloc cannot be trimmed (`trim`
 * throws: UNSUPPORTED_PLATFORM off glibc) the trimmer turns itself off and tells `onDisabled` why.
 */
export class MemoryTrimmer {
  private timer: NodeJS.Timeout | undefined;
  private available = true;
  /** Number of trims done (tests, logs). */
  trims = 0;

  constructor(
    private readonly quietMs: number,
    private readonly trim: () => unknown = trimMalloc,
    private readonly onDisabled: (err: unknown) => void = () => undefined,
  ) {}

  note(): void {
    if (!this.available) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.trim();
        this.trims++;
      } catch (err) {
        this.available = false;
        this.onDisabled(err);
      }
    }, this.quietMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
