// The host probe (src/host-probe/main.ts) as the bench uses it: bundled, run before the first path and after the
// last one with nothing else of the bench running, and its line parsed. Its two numbers (ns per 1,232-byte seal,
// ns per JS checksum of the same bytes) say how fast a thread of the shared host was at each end of the run, so
// that two runs' absolute numbers can be compared, or not (the same-run ratios need no such help).
import { BenchError, bundleTool, run } from './proc';

export interface HostProbe {
  /** Median ns per ChaCha20-Poly1305 seal of 1,232 bytes (OpenSSL through koffi). */
  readonly sealNs: number;
  /** Median ns per JS 16-bit checksum of the same 1,232 bytes. */
  readonly jsNs: number;
  readonly sealRounds: readonly number[];
  readonly jsRounds: readonly number[];
}

/** Bundles src/host-probe/main.ts into `<root>/dist/bench/host-probe.mjs`. */
export function bundleHostProbe(root: string): Promise<string> {
  return bundleTool(root, 'host-probe/main', ['koffi'], 'host-probe');
}

function positives(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
    throw new BenchError('PROBE_OUTPUT', `host probe: ${what} must be a non-empty list of positive numbers`);
  }
  return v as number[];
}

function positive(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new BenchError('PROBE_OUTPUT', `host probe: ${what} must be a positive number`);
  return v;
}

/** The probe's result from its standard output (the last line that starts with `{"hostProbe":`). */
export function parseHostProbe(stdout: string): HostProbe {
  const line = stdout
    .split('\n')
    .filter((l) => l.startsWith('{"hostProbe":'))
    .pop();
  if (line === undefined) throw new BenchError('PROBE_OUTPUT', `host probe: no result line in its output (${JSON.stringify(stdout.slice(0, 200))})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (e) {
    throw new BenchError('PROBE_OUTPUT', `host probe: its result line is not JSON: ${line.slice(0, 200)}`, { cause: e });
  }
  const p = (parsed as { hostProbe?: unknown }).hostProbe;
  if (typeof p !== 'object' || p === null) throw new BenchError('PROBE_OUTPUT', 'host probe: hostProbe is not an object');
  const o = p as Record<string, unknown>;
  return {
    sealNs: positive(o['sealNs'], 'sealNs'),
    jsNs: positive(o['jsNs'], 'jsNs'),
    sealRounds: positives(o['sealRounds'], 'sealRounds'),
    jsRounds: positives(o['jsRounds'], 'jsRounds'),
  };
}

/** Runs the bundled probe to completion (about 2.5 s with the defaults) and parses its line. */
export function runHostProbe(script: string, rounds = 5, ms = 200): HostProbe {
  return parseHostProbe(run('node', [script, '--rounds', String(rounds), '--ms', String(ms)], { timeoutMs: 120_000 }));
}

/** `seal 812 ns, JS sum 640 ns (rounds 801-830 / 633-655)`: one log line's worth. */
export function formatHostProbe(p: HostProbe): string {
  const span = (v: readonly number[]): string => `${String(Math.round(Math.min(...v)))}-${String(Math.round(Math.max(...v)))}`;
  return `seal 1,232 B ${String(Math.round(p.sealNs))} ns, JS sum ${String(Math.round(p.jsNs))} ns (rounds ${span(p.sealRounds)} / ${span(p.jsRounds)})`;
}
