// The kernel's scheduling policy for the threads of a process that carries tunnel traffic (issue 11).
//
// A tunnel process is a pipeline of threads (TUN reader, main thread with the AEAD, socket and TUN writer
// threads) that wake each other hundreds of thousands of times a second, on a machine where iperf3 and the
// kernel's own network work share the same cores. Under SCHED_OTHER every such wake-up may preempt the thread
// that is running (measured: 4,500-5,100 involuntary context switches a second on each main thread during a
// single TCP stream). Under SCHED_BATCH (`sched(7)`: "the scheduler will apply a small scheduling penalty with
// respect to wakeup behavior") a woken thread does not preempt the running one; it runs when the CPU frees up,
// with more work queued by then (the main threads: ~250 involuntary switches a second instead). Same weight
// (nice), same share of the CPU. docs/performance.md section 41 has the measurements (three alternated pairs:
// single-stream TCP downloads 1.42-1.93 -> 1.89-2.15 Gbit/s; system CPU per GB down by a third).
//
// The cost is latency under load: a woken thread waits for the running one's slice (milliseconds at most)
// instead of preempting it. On an idle CPU it runs at once. `POSTERN_SCHED_POLICY=other` keeps the kernel's
// default. Linux with glibc only; elsewhere UnsupportedPlatformError.
import { readdirSync } from 'node:fs';
import koffi from 'koffi';
import { assertLinux, errnoName } from './errors';
import { loadGlibc } from './glibc';

/** `batch`: SCHED_BATCH; `other`: SCHED_OTHER, the kernel's default. */
export type SchedulingPolicy = 'batch' | 'other';

/** Overrides the policy a binary asks for (`batch` or `other`). */
export const SCHED_POLICY_VAR = 'POSTERN_SCHED_POLICY';

/** The kernel's numbers (`<sched.h>`). */
export const SCHED_OTHER = 0;
export const SCHED_BATCH = 3;

const POLICY_NUMBERS: Readonly<Record<SchedulingPolicy, number>> = { batch: SCHED_BATCH, other: SCHED_OTHER };

const ESRCH = 3;

export type SchedulingErrorCode = 'INVALID_POLICY' | 'SETSCHEDULER_FAILED';

/** A policy name that is not one (`INVALID_POLICY`), or a `sched_setscheduler` the kernel refused (`errno`). */
export class SchedulingError extends Error {
  override readonly name = 'SchedulingError';
  constructor(
    readonly code: SchedulingErrorCode,
    message: string,
    readonly errno?: number,
  ) {
    super(message);
  }
}

/** `value` as a policy; undefined or empty: `fallback`. Throws INVALID_POLICY for anything else. */
export function parseSchedulingPolicy(value: string | undefined, fallback: SchedulingPolicy | undefined): SchedulingPolicy | undefined {
  if (value === undefined || value === '') return fallback;
  const v = value.trim().toLowerCase();
  if (v === 'batch' || v === 'other') return v;
  throw new SchedulingError('INVALID_POLICY', `${SCHED_POLICY_VAR}=${JSON.stringify(value)}: expected "batch" or "other"`);
}

interface SchedGlue {
  setscheduler(tid: number, policy: number, param: Int32Array): number;
  getscheduler(tid: number): number;
}

let glue: SchedGlue | undefined;

function sched(feature: string): SchedGlue {
  assertLinux(feature);
  if (glue !== undefined) return glue;
  const lib = loadGlibc(feature);
  glue = {
    setscheduler: lib.func('int sched_setscheduler(int pid, int policy, const int *param)') as SchedGlue['setscheduler'],
    getscheduler: lib.func('int sched_getscheduler(int pid)') as SchedGlue['getscheduler'],
  };
  return glue;
}

/** The ids of this process's threads (`/proc/self/task`). */
export function ownThreadIds(): number[] {
  return readdirSync('/proc/self/task')
    .map(Number)
    .filter((t) => Number.isInteger(t) && t > 0);
}

/** A thread's policy number (`sched_getscheduler`), or -1 when it has exited. */
export function threadPolicy(tid: number): number {
  return sched('reading a scheduling policy').getscheduler(tid);
}

/**
 * Puts every thread of this process (`tids`, default all of them now) under `policy`; threads started later
 * inherit it from the thread that starts them (Node's workers from the main thread). Returns how many threads
 * were set; a thread that exited meanwhile is skipped. Throws SETSCHEDULER_FAILED on the first other refusal.
 */
export function setSchedulingPolicy(policy: SchedulingPolicy, tids: readonly number[] = ownThreadIds()): number {
  const s = sched('setting a scheduling policy');
  const param = new Int32Array(1); // sched_priority: 0, the only value SCHED_OTHER and SCHED_BATCH take
  let set = 0;
  for (const tid of tids) {
    if (s.setscheduler(tid, POLICY_NUMBERS[policy], param) === 0) {
      set++;
      continue;
    }
    const errno = koffi.errno();
    if (errno === ESRCH) continue;
    throw new SchedulingError('SETSCHEDULER_FAILED', `sched_setscheduler(${String(tid)}, ${policy}) failed: ${errnoName(errno)} (errno ${String(errno)})`, errno);
  }
  return set;
}

/**
 * A binary's scheduling step at start (reexecAtStart calls it): `wanted`, unless SCHED_POLICY_VAR in `env` says
 * otherwise. Never stops the binary: a bad variable or a refusal is said on stderr (`binary: ...`) and the
 * threads keep the kernel's default; returns the error then, else the policy applied (undefined: none).
 */
export function schedulingAtStart(binary: string, wanted: SchedulingPolicy | undefined, env: NodeJS.ProcessEnv = process.env): SchedulingPolicy | Error | undefined {
  try {
    const policy = parseSchedulingPolicy(env[SCHED_POLICY_VAR], wanted);
    if (policy === undefined) return undefined;
    setSchedulingPolicy(policy);
    return policy;
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    console.error(`${binary}: keeping the kernel's default scheduling policy: ${e.message}`);
    return e;
  }
}
