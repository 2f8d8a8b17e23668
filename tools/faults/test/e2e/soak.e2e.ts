// Soak: steady traffic through the tunnel for SOAK_MINUTES (default 2 in CI; the real run is SOAK_MINUTES=30)
// while the resident memory and the open file descriptors of every Postern process are sampled; neither may
// grow (median of the last third vs the first third after a 25 % warm-up, see src/growth.ts). Needs root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assessGrowth, FullGcCollector, sampleProcess, type GrowthVerdict, type ProcSample } from '../../src/index';
import { buildApps, FaultWorld, sleep, waitFor, destroyWorlds } from './world';

const isRoot = process.getuid?.() === 0;
const MINUTES = Number(process.env['SOAK_MINUTES'] ?? 2);
const SAMPLE_MS = Number(process.env['SOAK_SAMPLE_MS'] ?? (MINUTES <= 5 ? 3_000 : 15_000));
const PROCS = ['portal', 'relay', 'gateway', 'client'] as const;
// RSS: 16 MiB + 15 % of the early level (V8 heap sizing moves in steps); fds: 4 (a socket being replaced).
const RSS_TOLERANCE = { absTolerance: 16 * 1024, relTolerance: 0.15 };
const FD_TOLERANCE = { absTolerance: 4 };
// The JavaScript heap after each full GC (main isolate): a leak in our code raises this floor. 4 MiB + 20 %.
const HEAP_TOLERANCE = { absTolerance: 4, relTolerance: 0.2 };

describe.runIf(isRoot)(`soak: ${String(MINUTES)} min of steady traffic, no growth in RSS or fds`, () => {
  let w: FaultWorld;

  beforeAll(async () => {
    buildApps(['portal', 'relay', 'gateway', 'headless-client']);
    w = await FaultWorld.create({ relay: true, files: { 'blob-2m': 2 << 20, small: 100 }, nodeFlags: ['--trace-gc'] });
    await waitFor('first download', async () => (await w.download('small', { maxTimeS: 3 })).ok, 20_000, 300);
  }, 180_000);

  afterAll(async () => {
    await destroyWorlds();
  });

  it('memory and file descriptors stay flat while every download arrives whole', async () => {
    const samples = new Map<string, ProcSample[]>(PROCS.map((p) => [p, []]));
    const gcs = new Map<string, FullGcCollector>(PROCS.map((p) => [p, new FullGcCollector()]));
    for (const p of PROCS) w.watchStdout(p, (chunk) => gcs.get(p)?.push(chunk));
    const end = performance.now() + MINUTES * 60_000;
    let downloads = 0;
    let bytes = 0;
    const failures: string[] = [];
    // traffic: back-to-back 2 MiB downloads paced by the server at 4 MiB/s, and a new TCP connection for each
    const traffic = (async () => {
      while (performance.now() < end) {
        const r = await w.download('blob-2m', { maxTimeS: 30, serverRate: 4 << 20 });
        downloads++;
        bytes += r.bytes;
        if (!r.ok) failures.push(`#${String(downloads)}: ${r.error || 'wrong sha256'}`);
      }
    })();
    while (performance.now() < end) {
      for (const p of PROCS) samples.get(p)?.push(sampleProcess(w.pid(p)));
      await sleep(SAMPLE_MS);
    }
    await traffic;
    const verdicts: Record<string, { rss: GrowthVerdict; fds: GrowthVerdict; heap: GrowthVerdict | undefined }> = {};
    const lines: string[] = [];
    for (const p of PROCS) {
      const s = samples.get(p) ?? [];
      const rss = assessGrowth(s.map((x) => [x.at, x.rssKiB]), RSS_TOLERANCE);
      const fds = assessGrowth(s.map((x) => [x.at, x.fds]), FD_TOLERANCE);
      // full GCs are rare in a short run: judge the heap floor only with 8 or more (6 after the warm-up)
      const full = gcs.get(p)?.mainIsolate() ?? [];
      const heap = full.length >= 8 ? assessGrowth(full.map((g) => [g.atMs, g.afterMiB]), HEAP_TOLERANCE) : undefined;
      verdicts[p] = { rss, fds, heap };
      const mib = (k: number): string => (k / 1024).toFixed(1);
      const heapText =
        heap === undefined
          ? `heap after full GC: ${String(full.length)} full GCs, too few to judge`
          : `heap after full GC ${heap.firstMedian.toFixed(1)} -> ${heap.lastMedian.toFixed(1)} MiB (allowed +${heap.allowed.toFixed(1)}, slope ${heap.slopePerMinute.toFixed(2)} MiB/min, ${String(full.length)} full GCs)`;
      lines.push(
        `${p.padEnd(8)} RSS ${mib(rss.firstMedian)} -> ${mib(rss.lastMedian)} MiB (allowed +${mib(rss.allowed)}, slope ${mib(rss.slopePerMinute)} MiB/min, max ${mib(Math.max(...s.map((x) => x.rssKiB)))})` +
          `  fds ${String(fds.firstMedian)} -> ${String(fds.lastMedian)} (max ${String(Math.max(...s.map((x) => x.fds)))})  ${heapText}`,
      );
    }
    console.log(`soak ${String(MINUTES)} min: ${String(downloads)} downloads, ${(bytes / 1e6).toFixed(0)} MB, ${String(samples.get('gateway')?.length ?? 0)} samples per process\n${lines.join('\n')}`);
    expect(failures).toEqual([]);
    expect(downloads).toBeGreaterThan(MINUTES * 10);
    for (const p of PROCS) {
      expect(verdicts[p]?.rss.ok, `${p} RSS grew`).toBe(true);
      expect(verdicts[p]?.fds.ok, `${p} fds grew`).toBe(true);
      expect(verdicts[p]?.heap?.ok ?? true, `${p} JavaScript heap grew (full-GC floor)`).toBe(true);
    }
  }, MINUTES * 60_000 + 120_000);
});
