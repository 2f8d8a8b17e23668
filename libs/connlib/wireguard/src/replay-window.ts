// Sliding anti-replay window over 64-bit counters, RFC 6479 style: a ring of 32-bit blocks, whole blocks
// cleared as the window advances, so each packet costs O(1) whatever the jump.
import { REPLAY_WINDOW_SIZE } from './constants';

const BLOCK_BITS = 32;
const RING_BLOCKS = REPLAY_WINDOW_SIZE / BLOCK_BITS + 1; // one spare block, as RFC 6479 §2

export class ReplayWindow {
  private readonly ring = new Uint32Array(RING_BLOCKS);
  /** Highest counter accepted so far, -1 before the first. */
  private last = -1;

  /** The number of counters behind the highest one that can still be accepted. */
  static readonly size = REPLAY_WINDOW_SIZE;

  /** Would `counter` be accepted? (Checked before decryption; `accept` only after authentication.) */
  check(counter: number): boolean {
    if (counter > this.last) return true;
    if (this.last - counter >= REPLAY_WINDOW_SIZE) return false;
    const block = Math.floor(counter / BLOCK_BITS) % RING_BLOCKS;
    const bit = counter % BLOCK_BITS;
    return ((this.ring[block] ?? 0) & (1 << bit)) === 0;
  }

  /** Marks `counter` as seen; returns false if it was a replay or too old. */
  accept(counter: number): boolean {
    if (!this.check(counter)) return false;
    if (counter > this.last) {
      const oldTop = this.last < 0 ? -1 : Math.floor(this.last / BLOCK_BITS);
      const newTop = Math.floor(counter / BLOCK_BITS);
      const advance = Math.min(newTop - oldTop, RING_BLOCKS);
      for (let i = 1; i <= advance; i++) this.ring[(oldTop + i) % RING_BLOCKS] = 0;
      this.last = counter;
    }
    const block = Math.floor(counter / BLOCK_BITS) % RING_BLOCKS;
    this.ring[block] = (this.ring[block] ?? 0) | (1 << (counter % BLOCK_BITS));
    return true;
  }

  reset(): void {
    this.ring.fill(0);
    this.last = -1;
  }
}
