// What /proc says about a running process: resident memory and open file descriptors.
import { readdirSync, readFileSync } from 'node:fs';
import { FaultsError } from './errors';

export interface ProcSample {
  /** Milliseconds (monotonic) when sampled. */
  readonly at: number;
  /** VmRSS in KiB. */
  readonly rssKiB: number;
  /** Entries in /proc/<pid>/fd. */
  readonly fds: number;
}

/** `VmRSS` of a /proc/<pid>/status text, in KiB. */
export function parseVmRss(status: string): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (m?.[1] === undefined) throw new FaultsError('PROC_PARSE', 'no VmRSS line in /proc/<pid>/status');
  return Number(m[1]);
}

/** Samples a process; throws PROC_GONE if it has exited. */
export function sampleProcess(pid: number, at: number = performance.now()): ProcSample {
  try {
    const rssKiB = parseVmRss(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
    const fds = readdirSync(`/proc/${String(pid)}/fd`).length;
    return { at, rssKiB, fds };
  } catch (err) {
    if (err instanceof FaultsError) throw err;
    throw new FaultsError('PROC_GONE', `process ${String(pid)} cannot be sampled`, { cause: err });
  }
}
