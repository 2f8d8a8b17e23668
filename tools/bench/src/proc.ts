// Processes in network namespaces, and what /proc says about them (CPU ticks, peak RSS).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { mainIsolateOf, parseTraceGcText } from '@postern/testing';

export class BenchError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BenchError';
  }
}

/**
 * The node flags on an app entry's first line (`#!/usr/bin/env -S node <flags>`, from the build's
 * package.json#postern.nodeFlags): the bench starts `node <these> <its own flags> <entry>`, as the installed
 * binary starts. None for a plain `#!/usr/bin/env node`, a missing file or another first line.
 */
export function entryNodeFlags(file: string): string[] {
  let first: string;
  try {
    first = readFileSync(file, 'utf8').slice(0, 512).split('\n', 1)[0] ?? '';
  } catch {
    return [];
  }
  const m = /^#!\/usr\/bin\/env -S node((?: --[^\s]+)+)\s*$/.exec(first);
  return m?.[1] === undefined ? [] : m[1].trim().split(/\s+/);
}

/** `node <the entry's #! flags> <flags> <entry>`: an app started as its installed binary starts, plus the bench's flags. */
export function nodeCommand(entry: string, flags: readonly string[] = []): string[] {
  return ['node', ...entryNodeFlags(entry), ...flags, entry];
}

/** Runs a command to completion; throws BenchError('COMMAND_FAILED') unless `allowFail`. */
export function run(cmd: string, args: readonly string[], opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 120_000 });
  if ((r.status !== 0 || r.error !== undefined) && opts.allowFail !== true) {
    throw new BenchError('COMMAND_FAILED', `${cmd} ${args.join(' ')}: exit ${String(r.status)} ${r.stderr.trim()}`, { cause: r.error });
  }
  return r.stdout;
}

export const nsRun = (ns: string, args: readonly string[], opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {}): string =>
  run('ip', ['netns', 'exec', ns, ...args], opts);

export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly log: string;
}

/** Starts a long-running process in a namespace (ip netns exec and env exec in place, so the pid is the program's). */
export function startIn(ns: string, args: readonly string[], log: string, env: Readonly<Record<string, string>> = {}): Started {
  const fd = openSync(log, 'a');
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const argv = ['netns', 'exec', ns, ...(envArgs.length > 0 ? ['env', ...envArgs] : []), ...args];
  const child = spawn('ip', argv, { stdio: ['ignore', fd, fd], detached: false });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new BenchError('SPAWN_FAILED', `could not start ${args.join(' ')}`);
  return { child, pid, log };
}

export async function stop(p: Started | undefined, graceMs = 3000): Promise<void> {
  if (p === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => { resolve(); }));
  p.child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => { resolve('timeout'); }, graceMs));
  if ((await Promise.race([exited, timer])) === 'timeout') {
    p.child.kill('SIGKILL');
    await exited;
  }
}

/** Clock ticks per second (utime/stime units). */
export const TICKS = Number(run('getconf', ['CLK_TCK']).trim()) || 100;

/** utime + stime of a process and its threads, in seconds (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

/** utime and stime (user and kernel CPU) of a process and its threads, in seconds (0 when it is gone). */
export function cpuTimes(pid: number): { user: number; sys: number } {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after "pid (comm) ": state is field 3 -> index 0; utime field 14 -> index 11; stime 15 -> 12
    return { user: Number(fields[11]) / TICKS, sys: Number(fields[12]) / TICKS };
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code === 'ENOENT') return { user: 0, sys: 0 };
    throw e;
  }
}

/** Peak resident set size (VmHWM) in MiB, or null when the process is gone. */
export function peakRssMiB(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
    return m?.[1] === undefined ? null : Number(m[1]) / 1024;
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * The isolate tag ("0x43d55d20") of the main thread in a `--trace-gc` log, following a process that
 * re-executed itself to its new image (@postern/testing's mainIsolateOf).
 */
export function mainIsolate(text: string): string | undefined {
  return mainIsolateOf(parseTraceGcText(text));
}

/** Resident set size now (VmRSS) in MiB, or null when the process is gone. */
export function rssMiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
    return m?.[1] === undefined ? null : Number(m[1]) / 1024;
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code === 'ENOENT') return null;
    throw e;
  }
}

/** How long ago the process started, in ms (/proc/<pid>/stat starttime against /proc/uptime; 10 ms steps). */
export function processAgeMs(pid: number): number {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startS = Number(fields[19]) / TICKS; // field 22 (starttime) -> index 19
  const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Math.max(0, (uptimeS - startS) * 1000);
}

export interface GcStats {
  readonly count: number;
  readonly totalMs: number;
  readonly maxMs: number;
}

/** A span of an isolate's life, in ms since it started ([fromMs, toMs]). */
export interface GcWindow {
  readonly fromMs: number;
  readonly toMs: number;
}

/**
 * Sums the pauses of `node --trace-gc` lines ("[pid:0x..]  8075 ms: Scavenge 4.1 (6.0) -> 3.2 (7.0) MB, 0.52 / 0.00 ms ...").
 * With a window (or several), only GCs whose time stamp (ms since the isolate started) lies in one of them
 * ([fromMs, toMs]) count.
 */
export function parseTraceGc(text: string, window?: GcWindow | readonly GcWindow[], isolate?: string): GcStats {
  const windows = window === undefined ? undefined : 'fromMs' in window ? [window] : window;
  let count = 0;
  let totalMs = 0;
  let maxMs = 0;
  for (const e of parseTraceGcText(text)) {
    if (isolate !== undefined && e.isolate !== isolate) continue;
    const at = e.atMs;
    if (windows !== undefined && (at === undefined || !windows.some((w) => at >= w.fromMs && at <= w.toMs))) continue;
    count++;
    totalMs += e.pauseMs;
    if (e.pauseMs > maxMs) maxMs = e.pauseMs;
  }
  return { count, totalMs, maxMs };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** Waits until `file` contains `needle` (polled every 100 ms); false after `ms`. */
export async function waitForLog(file: string, needle: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (existsSync(file) && readFileSync(file, 'utf8').includes(needle)) return true;
    await sleep(100);
  }
  return false;
}

/**
 * Bundles `tools/bench/src/<entry>.ts` with esbuild into `<root>/dist/bench/<out>.mjs` (ESM for node 20; the
 * `external` packages resolve up the tree from there, inside the repo) and returns the file.
 */
export async function bundleTool(root: string, entry: string, external: readonly string[], out = entry): Promise<string> {
  const dir = join(root, 'dist', 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${out}.mjs`);
  await build({
    entryPoints: [join(root, 'tools', 'bench', 'src', `${entry}.ts`)],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    external: [...external],
  });
  return file;
}
