// Bytes allocated on the JS heap while a function runs, measured with V8's sampling heap profiler (the
// inspector's HeapProfiler, including objects a scavenge already collected), with the allocating frames.
import { Session } from 'node:inspector/promises';

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly ProfileNode[];
}

export interface AllocationReport {
  /** Estimated bytes allocated while `run` ran. */
  readonly bytes: number;
  /** The largest allocation sites: `function file:line <- caller  bytes`. */
  readonly top: readonly string[];
  /**
   * Bytes per source file: the file of the allocating function, or of its caller for builtins (`subarray`,
   * Map iterators, ...). Functions inlined by the optimiser count for the function they were inlined into.
   */
  readonly byFile: ReadonlyMap<string, number>;
}

function isProfileNode(v: unknown): v is ProfileNode {
  return typeof v === 'object' && v !== null && 'selfSize' in v && 'children' in v && 'callFrame' in v;
}

/** Runs `run` (synchronously) under the sampling heap profiler (one sample per ~`interval` bytes). */
export async function measureAllocations(run: () => void, interval = 128): Promise<AllocationReport> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: interval,
      includeObjectsCollectedByMinorGC: true,
      includeObjectsCollectedByMajorGC: true,
    });
    run();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const sites = new Map<string, number>();
    const byFile = new Map<string, number>();
    let bytes = 0;
    const walk = (n: unknown, stack: string, file: string): void => {
      if (!isProfileNode(n)) return;
      const f = n.callFrame;
      const here = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${String(f.lineNumber + 1)}`;
      const owner = f.url === '' ? file : f.url.replace(/^file:\/\//, '');
      if (n.selfSize > 0) {
        bytes += n.selfSize;
        const key = `${here} <- ${stack}`;
        sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
        byFile.set(owner, (byFile.get(owner) ?? 0) + n.selfSize);
      }
      for (const c of n.children) walk(c, here, owner);
    };
    walk(profile.head, '', '(root)');
    const top = [...sites.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([k, v]) => `${k}  ${String(v)}`);
    return { bytes, top, byFile };
  } finally {
    await session.post('HeapProfiler.disable').catch(() => undefined);
    session.disconnect();
  }
}

/**
 * The steady state: `measureAllocations` up to `attempts` times, stopping at the first report under `maxBytes`, and
 * the smallest report. One measurement can land while V8 has not (re)optimised the code yet, and unoptimised code
 * boxes every non-small number (`aead-addresses.test.ts` saw 32 B/packet in 1 of 30 runs); an allocation the code
 * really makes shows in every attempt.
 */
export async function steadyAllocations(run: () => void, maxBytes: number, attempts = 3): Promise<AllocationReport> {
  let best: AllocationReport | undefined;
  for (let i = 0; i < attempts; i++) {
    const r = await measureAllocations(run);
    if (best === undefined || r.bytes < best.bytes) best = r;
    if (r.bytes < maxBytes) break;
  }
  if (best === undefined) throw new RangeError('attempts must be at least 1');
  return best;
}
