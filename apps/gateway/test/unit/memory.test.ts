import { describe, expect, it, vi } from 'vitest';
import { parseCli } from '../../src/cli';
import { capYoungGeneration, MemoryTrimmer, newSpaceBytes, trimMalloc } from '../../src/memory';

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

  it('reports the new space size and caps it at once when it is already at the cap', () => {
    const size = newSpaceBytes();
    expect(size).toBeGreaterThan(0);
    const onCapped = vi.fn();
    const stop = capYoungGeneration(1, onCapped);
    stop();
    expect(onCapped).toHaveBeenCalledWith(size);
    const never = vi.fn();
    capYoungGeneration(0, never)();
    expect(never).not.toHaveBeenCalled();
  });

  it('takes the young generation cap from --young-gen-cap-mb / POSTERN_YOUNG_GEN_CAP_MB (8 by default)', () => {
    expect(parseCli([], {}).youngGenCapMb).toBe(8);
    expect(parseCli(['--young-gen-cap-mb', '0'], {}).youngGenCapMb).toBe(0);
    expect(parseCli([], { POSTERN_YOUNG_GEN_CAP_MB: '16' }).youngGenCapMb).toBe(16);
    expect(() => parseCli(['--young-gen-cap-mb', 'lots'], {})).toThrow(/young-gen-cap-mb/);
  });
});
