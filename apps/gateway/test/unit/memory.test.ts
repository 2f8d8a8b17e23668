import { describe, expect, it, vi } from 'vitest';
import { MemoryTrimmer, trimMalloc } from '../../src/memory';

describe('memory hygiene', () => {
  it('trims glibc malloc (this machine runs glibc)', () => {
    expect(trimMalloc()).toBe(true);
  });

  it('trims once a burst has been quiet for the given time, not during it', () => {
    vi.useFakeTimers();
    try {
      const trim = vi.fn(() => true);
      const t = new MemoryTrimmer(1000, trim);
      for (let i = 0; i < 10; i++) {
        t.note();
        vi.advanceTimersByTime(500);
      }
      expect(trim).not.toHaveBeenCalled();
      vi.advanceTimersByTime(600);
      expect(trim).toHaveBeenCalledTimes(1);
      expect(t.trims).toBe(1);
      t.note();
      t.close();
      vi.advanceTimersByTime(5000);
      expect(trim).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
