// GSO runs of the ceiling loop (a bench instrument, not shipped): consecutive datagrams leave in one
// sendmsg with UDP_SEGMENT when every one but the last has the first one's length and the last is not
// longer; a run also ends at `maxSegments` datagrams or `maxBytes` bytes (the kernel's limits: 64 segments,
// a 16-bit UDP length). Pure: the loop turns each run into one mmsghdr.

export class GsoRuns {
  /** First datagram (slot) of run i. */
  readonly start: Int32Array;
  /** Datagrams in run i. */
  readonly count: Int32Array;
  /** Segment size (the first datagram's length) of run i. */
  readonly seg: Int32Array;
  private bytes = 0;
  private closed = true;
  /** Runs so far. */
  length = 0;

  constructor(
    capacity: number,
    private readonly maxSegments: number,
    private readonly maxBytes: number,
  ) {
    this.start = new Int32Array(capacity);
    this.count = new Int32Array(capacity);
    this.seg = new Int32Array(capacity);
  }

  /** Appends the datagram in `slot` (slots are appended in order) of `len` bytes. */
  add(slot: number, len: number): void {
    const r = this.length - 1;
    if (r >= 0 && !this.closed) {
      const seg = this.seg[r] ?? 0;
      const count = this.count[r] ?? 0;
      const next = (this.start[r] ?? 0) + count;
      if (slot === next && len <= seg && count < this.maxSegments && this.bytes + len <= this.maxBytes) {
        this.count[r] = count + 1;
        this.bytes += len;
        if (len < seg) this.closed = true;
        return;
      }
    }
    const i = this.length++;
    this.start[i] = slot;
    this.count[i] = 1;
    this.seg[i] = len;
    this.bytes = len;
    this.closed = false;
  }

  clear(): void {
    this.length = 0;
    this.closed = true;
    this.bytes = 0;
  }
}
