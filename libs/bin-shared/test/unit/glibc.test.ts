import koffi from 'koffi';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadGlibc } from '../../src/glibc';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('loadGlibc', () => {
  it('loads glibc here (Debian)', () => {
    const lib = loadGlibc('a test');
    const getpid = lib.func('int getpid()') as () => number;
    expect(getpid()).toBe(process.pid);
  });

  it('says UNSUPPORTED_PLATFORM, naming the feature, where libc.so.6 cannot be loaded (musl)', () => {
    vi.spyOn(koffi, 'load').mockImplementation(() => {
      throw new Error('Failed to load shared library: libc.so.6: cannot open shared object file');
    });
    expect(() => loadGlibc('setting a scheduling policy')).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_PLATFORM', message: expect.stringContaining('setting a scheduling policy without glibc') }),
    );
  });
});
