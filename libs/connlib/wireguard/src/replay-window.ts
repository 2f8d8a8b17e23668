// Sliding anti-replay window over 64-bit counters, RFC 6479 style: a ring of 32-bit blocks, whole blocks
// cleared as the window advances, so each packet costs O(1) whatever the jump.
//
// The ring (1 KiB) is allocated only once a counter reaches 64: until then two inline 32-bit words hold the
// bits of counters 0..63 (exactly the ring's blocks 0 and 1, copied into it when it is made). A session of
// an idle peer (keepalives every few seconds, a new session every two minutes) never needs the ring.
import { REPLAY_WINDOW_SIZE } from './constants';

const BLOCK_BITS = 32;
const RING_BLOCKS = REPLAY_WINDOW_SIZE / BLOCK_BITS + 1; // one spare block, as RFC 6479 §2
/** Counters below this are tracked inline (blocks 0 and 1) while there is no ring. */
const INLINE_LIMIT = 2 * BLOCK_BITS;

export class ReplayWindow {
  private ring: Uint32Array | null = null;
  private block0 = 0;
  private block1 = 0;
  /** Highest counter accepted so far, -1 before the first. */
  private last = -1;

  /** The number of counters behind the highest one that can still be accepted. */
  static readonly size = REPLAY_WINDOW_SIZE;

  /** Whether the 1 KiB ring has been allocated (a counter reached 64). */
  get allocated(): boolean {
    return this.ring !== null;
  }

  /** Would `counter` be accepted? (Checked before decryption; `accept` only after authentication.) */
  check(counter: number): boolean {
    if (counter > this.last) return true;
    if (this.last - counter >= REPLAY_WINDOW_SIZE) return false;
    const bit = counter % BLOCK_BITS;
    const ring = this.ring;
    // without a ring, last < 64: the counter is 0..63
    const word = ring === null ? (counter < BLOCK_BITS ? this.block0 : this.block1) : (ring[Math.floor(counter / BLOCK_BITS) % RING_BLOCKS] ?? 0);
    return (word & (1 << bit)) === 0;
  }

  /** Marks `counter` as seen; returns false if it was a replay or too old. */
  accept(counter: number): boolean {
    if (!this.check(counter)) return false;
    let ring = this.ring;
    if (ring === null) {
      if (counter < INLINE_LIMIT) {
        if (counter > this.last) this.last = counter;
        if (counter < BLOCK_BITS) this.block0 = (this.block0 | (1 << counter)) >>> 0;
        else this.block1 = (this.block1 | (1 << (counter - BLOCK_BITS))) >>> 0;
        return true;
      }
      ring = new Uint32Array(RING_BLOCKS);
      ring[0] = this.block0;
      ring[1] = this.block1;
      this.ring = ring;
    }
    if (counter > this.last) {
      const oldTop = this.last < 0 ? -1 : Math.floor(this.last / BLOCK_BITS);
      const newTop = Math.floor(counter / BLOCK_BITS);
      const advance = Math.min(newTop - oldTop, RING_BLOCKS);
      for (let i = 1; i <= advance; i++) ring[(oldTop + i) % RING_BLOCKS] = 0;
      this.last = counter;
    }
    const block = Math.floor(counter / BLOCK_BITS) % RING_BLOCKS;
    ring[block] = (ring[block] ?? 0) | (1 << (counter % BLOCK_BITS));
    return true;
  }

  reset(): void {
    this.ring = null;
    this.block0 = 0;
    this.block1 = 0;
    this.last = -1;
  }
}
