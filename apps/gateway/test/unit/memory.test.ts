import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { missingEnv, missingNodeFlags } from '@postern/bin-shared';
import { packageNodeFlags } from '@postern/testing';
import { GATEWAY_PROCESS, MemoryTrimmer } from '../../src/memory';

describe('memory policy', () => {
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

  it('turns itself off (and says why) where malloc cannot be trimmed, instead of throwing from a timer', () => {
    vi.useFakeTimers();
    try {
      const unsupported = Object.assign(new Error('malloc_trim without glibc is not supported on linux yet'), { code: 'UNSUPPORTED_PLATFORM' });
      const trim = vi.fn(() => {
        throw unsupported;
      });
      const disabled = vi.fn();
      const t = new MemoryTrimmer(1000, trim, disabled);
      t.note();
      vi.advanceTimersByTime(1000);
      expect(disabled).toHaveBeenCalledWith(unsupported);
      t.note();
      vi.advanceTimersByTime(5000);
      expect(trim).toHaveBeenCalledTimes(1);
      expect(t.trims).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('trims the real glibc malloc by default', () => {
    vi.useFakeTimers();
    try {
      const t = new MemoryTrimmer(10);
      t.note();
      vi.advanceTimersByTime(10);
      expect(t.trims).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('runs with 2 MiB semi-spaces, no memory reducer and 2 malloc arenas unless the user chose otherwise', () => {
    const flags = GATEWAY_PROCESS.nodeFlags ?? [];
    expect(missingNodeFlags(flags, [])).toEqual(['--max-semi-space-size=2', '--no-memory-reducer']);
    expect(missingNodeFlags(flags, ['--trace-gc', '--no-memory-reducer'], '--max-semi-space-size=2')).toEqual([]);
    expect(missingNodeFlags(flags, ['--max-semi-space-size=8', '--memory-reducer'])).toEqual([]);
    expect(missingEnv(GATEWAY_PROCESS.env ?? {}, {})).toEqual({ MALLOC_ARENA_MAX: '2' });
    // the installed binary's #! line (the build reads package.json#postern.nodeFlags) starts node with the same flags
    expect(packageNodeFlags(join(import.meta.dirname, '..', '..'), 'main')).toEqual(flags);
    expect(missingEnv(GATEWAY_PROCESS.env ?? {}, { MALLOC_ARENA_MAX: '4' })).toEqual({});
  });
});
