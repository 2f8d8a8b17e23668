// "RSS during a long iperf3 run": one TCP upload of `seconds` through the tunnel while the resident set of each
// side is sampled every second, and the GC pauses of the Postern processes inside that window (node --trace-gc
// time stamps are ms since the isolate started; the window is placed with the process's start time).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BenchError, mainIsolate, parseTraceGc, processAgeMs, rssMiB, type GcStats } from './proc';

export interface SoakSide {
  readonly name: string;
  readonly pid: number;
  /** The process's log with `--trace-gc` lines, if it is a Node process. */
  readonly log?: string;
}

export interface RssTrace {
  readonly startMiB: number;
  readonly endMiB: number;
  readonly peakMiB: number;
  /** Growth from the sample after the first 10 % of the run to the end (the warm-up excluded). */
  readonly driftMiB: number;
  readonly samples: readonly number[];
}

export interface SoakResult {
  readonly seconds: number;
  readonly gbps: number;
  readonly rss: Record<string, RssTrace>;
  readonly gc: Record<string, GcStats>;
}

/** Summarises RSS samples (MiB, one per second). */
export function rssTrace(samples: readonly number[]): RssTrace {
  const v = samples.filter((x) => Number.isFinite(x));
  const first = v[0] ?? Number.NaN;
  const last = v[v.length - 1] ?? Number.NaN;
  const warm = v[Math.min(v.length - 1, Math.floor(v.length / 10))] ?? Number.NaN;
  return { startMiB: first, endMiB: last, peakMiB: v.length > 0 ? Math.max(...v) : Number.NaN, driftMiB: last - warm, samples: v };
}

/**
 * Runs `iperf3 -c <server> -t <seconds>` in namespace `ns` (asynchronously, so that sampling goes on) and samples
 * every side's VmRSS once per second.
 */
export async function soak(ns: string, server: string, seconds: number, sides: readonly SoakSide[]): Promise<SoakResult> {
  const ages = new Map(sides.map((s) => [s.name, processAgeMs(s.pid)]));
  const t0 = Date.now();
  const samples = new Map<string, number[]>(sides.map((s) => [s.name, []]));
  const sample = (): void => {
    for (const s of sides) samples.get(s.name)?.push(rssMiB(s.pid) ?? Number.NaN);
  };
  sample();
  const timer = setInterval(sample, 1000);
  let out = '';
  let err = '';
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, 'iperf3', '-c', server, '-t', String(seconds), '-J', '--connect-timeout', '5000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.stderr.on('data', (d: string) => (err += d));
    child.once('error', () => { resolve(null); });
    child.once('exit', (c) => { resolve(c); });
  });
  clearInterval(timer);
  sample();
  const t1 = Date.now();
  if (code !== 0) throw new BenchError('COMMAND_FAILED', `iperf3 soak run failed (exit ${String(code)}): ${err.trim() || out.slice(-300)}`);
  const end = (JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number } } }).end;
  const gbps = (end?.sum_received?.bits_per_second ?? Number.NaN) / 1e9;
  const rss: Record<string, RssTrace> = {};
  const gc: Record<string, GcStats> = {};
  for (const s of sides) {
    rss[s.name] = rssTrace(samples.get(s.name) ?? []);
    const age = ages.get(s.name);
    if (s.log !== undefined && age !== undefined) {
      // isolate time at t0 ~ the process age at t0 (Node starts its isolate within a few ms of exec)
      // the main thread's isolate only: worker isolates count time from their own start
      const text = readFileSync(s.log, 'utf8');
      gc[s.name] = parseTraceGc(text, { fromMs: age, toMs: age + (t1 - t0) }, mainIsolate(text));
    }
  }
  return { seconds, gbps, rss, gc };
}
