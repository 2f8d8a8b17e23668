// "RSS during a long iperf3 run": one TCP upload of `seconds` through the tunnel while the resident set of each
// side is sampled every second, and the GC pauses of the Postern processes inside that window (node --trace-gc
// time stamps are ms since the isolate started; the window is placed with the process's start time), and the
// round-trip time of pings through the tunnel before and during it (what a thread scheduling change costs in latency).
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

/** Round-trip times of pings through the tunnel. */
export interface RttStats {
  readonly sent: number;
  readonly received: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface SoakResult {
  readonly seconds: number;
  readonly gbps: number;
  readonly rss: Record<string, RssTrace>;
  readonly gc: Record<string, GcStats>;
  /** Pings to the server through the tunnel just before the upload (idle) and during it (loaded); absent if ping failed. */
  readonly rtt?: { readonly idle: RttStats; readonly loaded: RttStats };
}

/** Interval between pings (s): root may go below ping's 0.2 s floor for users. */
const PING_INTERVAL_S = 0.1;

/**
 * The round-trip times (ms) in `ping -n` output (`... time=0.123 ms` per reply; everything else ignored) and how
 * many were sent (the summary's `N packets transmitted`, else the replies' count).
 */
export function parsePing(text: string): { rtts: number[]; sent: number } {
  const rtts: number[] = [];
  for (const m of text.matchAll(/ time[=<]([0-9]+(?:\.[0-9]+)?) ms/g)) {
    const v = Number(m[1]);
    if (Number.isFinite(v)) rtts.push(v);
  }
  const sent = /^([0-9]+) packets transmitted/m.exec(text);
  return { rtts, sent: sent === null ? rtts.length : Number(sent[1]) };
}

/** Median, 99th percentile (nearest rank) and maximum of `rtts`; NaN when there are none. */
export function rttStats(rtts: readonly number[], sent: number): RttStats {
  const v = [...rtts].sort((a, b) => a - b);
  const rank = (q: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))] ?? Number.NaN;
  return { sent, received: v.length, medianMs: rank(0.5), p99Ms: rank(0.99), maxMs: v[v.length - 1] ?? Number.NaN };
}

/** `ping -n` from namespace `ns` to `server` for `seconds` (deadline); its output, '' if ping could not run. */
function ping(ns: string, server: string, seconds: number): Promise<string> {
  return new Promise((resolve) => {
    const args = ['netns', 'exec', ns, 'ping', '-n', '-i', String(PING_INTERVAL_S), '-W', '1', '-w', String(seconds), server];
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.once('error', () => { resolve(''); });
    child.once('close', () => { resolve(out); });
  });
}

/** Pings `server` from namespace `ns` for `seconds` (an idle tunnel: nothing else running); undefined if ping could not run. */
export async function idlePing(ns: string, server: string, seconds = 3): Promise<RttStats | undefined> {
  const p = parsePing(await ping(ns, server, seconds));
  return p.sent > 0 ? rttStats(p.rtts, p.sent) : undefined;
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
  const idle = await idlePing(ns, server);
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
  // from 1 s in (the flow's start) to 1 s before its end
  const loadedPing = new Promise<string>((resolve) => setTimeout(() => { void ping(ns, server, Math.max(1, seconds - 2)).then(resolve); }, 1000));
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
  const loaded = parsePing(await loadedPing);
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
  const rtt = idle !== undefined && loaded.sent > 0 ? { idle, loaded: rttStats(loaded.rtts, loaded.sent) } : undefined;
  return { seconds, gbps, rss, gc, ...(rtt === undefined ? {} : { rtt }) };
}
