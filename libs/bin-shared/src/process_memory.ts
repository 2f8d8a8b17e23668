// The process's memory knobs that live below JavaScript (issue 11: gateway RSS per idle client), through
// koffi and glibc:
// - `trimMalloc()`: glibc's `malloc_trim(0)`, which returns the free pages inside malloc's heaps to the kernel
//   (a burst of handshakes frees a lot that glibc otherwise keeps).
// - `setMmapThreshold()`: glibc's `mallopt(M_MMAP_THRESHOLD)`, so that the data plane's large buffers come from
//   malloc's heap below 2^31 (small-integer addresses for koffi) instead of mappings of their own.
// - `reexecWith()`: V8 reads its heap configuration (the young generation's maximum semi-space size)
//   once, when the isolate is created; `v8.setFlagsFromString` after that changes the flag but not the heap
//   (measured: new space still grows to 32 MiB). So a process that needs such a flag and was started without
//   it replaces itself (`execve`, same pid: systemd and supervisors keep tracking it) with
//   `node <its flags> <the missing flags> <script> <args>`; likewise for environment variables that only count
//   at start-up (glibc's MALLOC_ARENA_MAX: threads get their arenas as they start). Node marks fds 0-2 close-on-exec; they are made
//   inheritable first, or the new image would start with /dev/null as stdout and stderr. The same re-exec,
//   once, gives a fresh address-space layout to a process whose malloc heap cannot grow (see heapRoom).
// Linux with glibc only: elsewhere UnsupportedPlatformError (UNSUPPORTED_PLATFORM).
import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import { assertLinux, errnoName } from './errors';
import { loadGlibc } from './glibc';
import { schedulingAtStart, type SchedulingPolicy } from './scheduling';

export type ProcessMemoryErrorCode = 'INVALID_NODE_FLAG' | 'INVALID_THRESHOLD' | 'EXEC_FAILED';

/** A bad flag list for `reexecWith`, or an `execve` the kernel refused (`errno`). */
export class ProcessMemoryError extends Error {
  override readonly name = 'ProcessMemoryError';
  constructor(
    readonly code: ProcessMemoryErrorCode,
    message: string,
    readonly errno?: number,
  ) {
    super(message);
  }
}

interface Glue {
  mallocTrim(pad: number): number;
  mallopt(param: number, value: number): number;
  execve(path: string, argv: (string | null)[], envp: (string | null)[]): number;
  fcntl(fd: number, cmd: number, arg: number): number;
}

let glue: Glue | undefined;

function libc(feature: string): Glue {
  assertLinux(feature);
  if (glue !== undefined) return glue;
  const lib = loadGlibc(feature);
  const mallocTrim = lib.func('int malloc_trim(size_t pad)');
  const mallopt = lib.func('int mallopt(int param, int value)');
  const execve = lib.func('int execve(const char *path, const char **argv, const char **envp)');
  const fcntl = lib.func('int fcntl(int fd, int cmd, int arg)');
  glue = {
    mallocTrim: (pad) => Number(mallocTrim(pad)),
    mallopt: (param, value) => Number(mallopt(param, value)),
    execve: (path, argv, envp) => Number(execve(path, argv, envp)),
    fcntl: (fd, cmd, arg) => Number(fcntl(fd, cmd, arg)),
  };
  return glue;
}

/** glibc's `malloc_trim(0)`. True when pages were returned to the kernel. UNSUPPORTED_PLATFORM off glibc. */
export function trimMalloc(): boolean {
  return libc('malloc_trim').mallocTrim(0) === 1;
}

const M_MMAP_THRESHOLD = -3;
/** glibc's upper limit for M_MMAP_THRESHOLD on 64-bit (mallopt(3): DEFAULT_MMAP_THRESHOLD_MAX). */
export const MAX_MMAP_THRESHOLD = 32 << 20;

/**
 * glibc's `mallopt(M_MMAP_THRESHOLD, bytes)`: blocks up to `bytes` come from malloc's heap instead of a mapping of
 * their own (default 128 KiB, then adapting). For the data plane's buffers (ring SharedArrayBuffers of up to
 * 16 MiB, buffer pools' slabs) made by the main thread, that heap lies below 2^31, so koffi calls take their
 * addresses as small integers (see DATA_PLANE_MMAP_THRESHOLD). Affects blocks allocated afterwards. False when
 * glibc refused the value. Throws INVALID_THRESHOLD for a value out of [0, MAX_MMAP_THRESHOLD], UNSUPPORTED_PLATFORM
 * off Linux/glibc.
 */
export function setMmapThreshold(bytes: number): boolean {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > MAX_MMAP_THRESHOLD) {
    throw new ProcessMemoryError('INVALID_THRESHOLD', `mmap threshold must be an integer in [0, ${String(MAX_MMAP_THRESHOLD)}] (got ${String(bytes)})`);
  }
  return libc('mallopt').mallopt(M_MMAP_THRESHOLD, bytes) === 1;
}

/**
 * Bytes between the end of malloc's brk heap (`[heap]` in `/proc/self/maps` text) and the next mapping above it
 * (Infinity when none). Undefined when the text has no heap line (no brk heap yet, or not a maps file). Lines
 * that are not `start-end ...` in hex are skipped.
 *
 * Why: about one node start in 100-200 (measured: 1 in 200 idle, 5 in 300 with the test suite running), V8
 * reserves its code range (an 8 KiB rw page and 512 MiB reserved) right at the heap's end. The heap then cannot
 * grow by brk, glibc maps every later block on its own above 2^31 whatever the mmap threshold, and the data
 * plane's rings and pools lose their small-integer addresses.
 */
export function heapRoom(maps: string): number | undefined {
  const ranges: { start: number; end: number; heap: boolean }[] = [];
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]{1,16})-([0-9a-f]{1,16})\s/.exec(line);
    if (m === null) continue;
    ranges.push({ start: parseInt(m[1] ?? '', 16), end: parseInt(m[2] ?? '', 16), heap: line.trimEnd().endsWith(' [heap]') });
  }
  const heap = ranges.find((r) => r.heap);
  if (heap === undefined) return undefined;
  const above = ranges.filter((r) => r.start >= heap.end).map((r) => r.start);
  return above.length === 0 ? Infinity : Math.min(...above) - heap.end;
}

/** Room above malloc's heap that the data plane wants (see heapRoom): its rings and pools take tens of MiB. */
export const DATA_PLANE_HEAP_ROOM = 256 << 20;

/** Set in the environment of a process re-executed because its heap had no room (one retry, never a loop). */
export const HEAP_REEXEC_VAR = 'POSTERN_HEAP_REEXEC';

/**
 * `--max_semi_space_size=2` -> `--max-semi-space-size` (V8 and Node accept both spellings); a boolean's `--no-`
 * is dropped (`--no-x` and `--x` are one flag).
 */
function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  const name = (eq < 0 ? arg : arg.slice(0, eq)).replaceAll('_', '-');
  return name.startsWith('--no-') ? `--${name.slice(5)}` : name;
}

/**
 * The flags of `wanted` whose name appears neither in `execArgv` nor in `NODE_OPTIONS`: a flag the user set,
 * with any value (a boolean either way: `--memory-reducer` keeps out `--no-memory-reducer`), is theirs to keep.
 * Throws INVALID_NODE_FLAG for anything but `--name[=value]`.
 */
export function missingNodeFlags(wanted: readonly string[], execArgv: readonly string[], nodeOptions = ''): string[] {
  for (const f of wanted) {
    if (!/^--[a-z0-9][a-z0-9_-]*(=\S+)?$/i.test(f)) throw new ProcessMemoryError('INVALID_NODE_FLAG', `not a node flag: ${JSON.stringify(f)}`);
  }
  const present = new Set([...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)].map(flagName));
  return wanted.filter((f) => !present.has(flagName(f)));
}

/**
 * V8 flags of every process that carries tunnel traffic (gateway, clients, relay). `--no-memory-reducer`: V8's memory
 * reducer takes an allocation rate under ~1 MB/s for an idle process and then runs full mark-compacts to shrink
 * the heap; the data path allocates that little at full throughput, so those collections (10-25 ms pauses with
 * the 2 cores busy) came in the middle of traffic. Measured (bench soak, 45 s at 0.7-0.8 Gbit/s, two alternated
 * pairs): GC max client 20.4 / 17.0 ms, gateway 9.3 / 2.3 ms with it, each client maximum a "Mark-Compact
 * (reduce)"; 5.2 / 4.2 and 2.1 / 2.2 ms without; RSS at the end within 3 MiB either way (V8 still shrinks the
 * young generation when allocation is low).
 */
export const DATA_PLANE_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];

/**
 * glibc's mmap threshold for every process that carries tunnel traffic: 32 MiB, so that the rings and pools come
 * from malloc's heap, below 2^31. Above 2^31 (their own mappings, glibc's default) a packet's address is not a
 * small integer: the AEAD then passes views (koffi looks up each view's buffer) or boxes the number, and
 * sealing straight from a TUN ring slot cost more than it saved. Measured (bench, quick TCP runs, two
 * alternated pairs, docs/performance.md section 28): single-stream TCP up 1.04 / 1.05 -> 1.15 / 1.13 Gbit/s, down
 * 1.07 / 1.11 -> 1.10 / 1.18 (1.23 / 1.24 with sealing from the ring slot). A user's `MALLOC_MMAP_THRESHOLD_` or
 * `glibc.malloc.mmap_threshold` tunable wins (see userMmapThreshold).
 */
export const DATA_PLANE_MMAP_THRESHOLD = MAX_MMAP_THRESHOLD;

/** What every process that carries tunnel traffic runs with (the gateway adds its own; see reexecAtStart). */
export const DATA_PLANE_PROCESS: ProcessSettings = {
  nodeFlags: DATA_PLANE_NODE_FLAGS,
  mmapThreshold: DATA_PLANE_MMAP_THRESHOLD,
  heapRoom: DATA_PLANE_HEAP_ROOM,
  scheduling: 'batch',
};

/**
 * What a process needs from its start: node flags (`--name[=value]`) and environment variables (e.g. glibc's),
 * which a re-exec gives it, and glibc's mmap threshold, set in the running process.
 */
export interface ProcessSettings {
  readonly nodeFlags?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** setMmapThreshold(bytes) once the process runs with its flags (e.g. DATA_PLANE_MMAP_THRESHOLD). */
  readonly mmapThreshold?: number;
  /**
   * Re-execute once (HEAP_REEXEC_VAR marks it) when malloc's heap has less room than this above it (e.g.
   * DATA_PLANE_HEAP_ROOM; see heapRoom): the new image gets a new random layout.
   */
  readonly heapRoom?: number;
  /** The threads' scheduling policy (schedulingAtStart; SCHED_POLICY_VAR overrides it). */
  readonly scheduling?: SchedulingPolicy;
}

export interface ReexecOptions {
  readonly execPath?: string;
  readonly execArgv?: readonly string[];
  /** `process.argv`: [node, script, ...args]. */
  readonly argv?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** `/proc/self/maps` (tests give their own). */
  readonly maps?: () => string;
}

function ownMaps(): string {
  try {
    return readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return '';
  }
}

/** True when `wanted.heapRoom` asks for more room above malloc's heap than there is, and no retry was made yet. */
function heapWantsRoom(wanted: ProcessSettings, o: ReexecOptions): boolean {
  const env = o.env ?? process.env;
  if (wanted.heapRoom === undefined || env[HEAP_REEXEC_VAR] !== undefined) return false;
  const room = heapRoom((o.maps ?? ownMaps)());
  return room !== undefined && room < wanted.heapRoom;
}

/** The argv of the re-executed process: node, its own flags, the missing ones, the script and its arguments. */
export function reexecArgv(missing: readonly string[], o: ReexecOptions = {}): string[] {
  const argv = o.argv ?? process.argv;
  if (argv.length < 2) throw new ProcessMemoryError('INVALID_NODE_FLAG', 'no script to re-execute (process.argv has no script)');
  return [o.execPath ?? process.execPath, ...(o.execArgv ?? process.execArgv), ...missing, ...argv.slice(1)];
}

/** True when the user chose glibc's mmap threshold (`MALLOC_MMAP_THRESHOLD_`, or the tunable in GLIBC_TUNABLES). */
export function userMmapThreshold(env: NodeJS.ProcessEnv): boolean {
  return env['MALLOC_MMAP_THRESHOLD_'] !== undefined || /(^|:)glibc\.malloc\.mmap_threshold=/.test(env['GLIBC_TUNABLES'] ?? '');
}

/** The variables of `wanted` that `env` does not set (a value the user set, even empty, is theirs to keep). */
export function missingEnv(wanted: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(wanted).filter(([k]) => env[k] === undefined));
}

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/**
 * Makes sure the process runs with `wanted` (e.g. `{ nodeFlags: ['--max-semi-space-size=2'], env:
 * { MALLOC_ARENA_MAX: '2' } }`): returns `false` at once when every flag's name is set (command line or
 * NODE_OPTIONS), every variable is set and malloc's heap has `heapRoom` (or was given its one retry); otherwise replaces the process with `node <flags> <missing flags>
 * <script> <args>` and the missing variables added to its environment (same pid, same stdio), and does not
 * return. Call it before the process starts threads of its own or changes its environment. Throws EXEC_FAILED
 * when `execve` fails, UNSUPPORTED_PLATFORM off Linux/glibc.
 */
export function reexecWith(wanted: ProcessSettings, o: ReexecOptions = {}): false {
  const env = o.env ?? process.env;
  const flags = missingNodeFlags(wanted.nodeFlags ?? [], o.execArgv ?? process.execArgv, env['NODE_OPTIONS'] ?? '');
  const vars = missingEnv(wanted.env ?? {}, env);
  if (heapWantsRoom(wanted, o)) vars[HEAP_REEXEC_VAR] = '1';
  if (flags.length === 0 && Object.keys(vars).length === 0) return false;
  const argv = reexecArgv(flags, o);
  const c = libc('re-executing node with flags');
  for (const fd of [0, 1, 2]) {
    const fdFlags = c.fcntl(fd, F_GETFD, 0);
    if (fdFlags >= 0 && (fdFlags & FD_CLOEXEC) !== 0) c.fcntl(fd, F_SETFD, fdFlags & ~FD_CLOEXEC);
  }
  const envp = Object.entries({ ...env, ...vars }).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  const [path = process.execPath] = argv;
  c.execve(path, [...argv, null], [...envp, null]);
  const errno = koffi.errno();
  throw new ProcessMemoryError('EXEC_FAILED', `execve(${path}) failed: ${errnoName(errno)} (errno ${String(errno)})`, errno);
}

/** Arguments after which a binary only prints something and exits: no re-exec for those. */
const INFO_ARGS = new Set(['--version', '-V', '--help', '-h']);

/**
 * A binary's first step (from a module its entry imports first, before the rest of the bundle is evaluated):
 * `reexecWith(wanted)` unless it was asked for `--version` or `--help`, then the mmap threshold and the threads'
 * scheduling policy (schedulingAtStart). A failure to re-execute does not stop it: it runs on with V8's and
 * glibc's defaults and says so on stderr (returns the error; `undefined` when the process already had what it
 * wants or only prints information).
 */
export function reexecAtStart(binary: string, wanted: ProcessSettings, o: ReexecOptions = {}): Error | undefined {
  const argv = o.argv ?? process.argv;
  if (argv.slice(2).some((a) => INFO_ARGS.has(a))) return undefined;
  const failed = memoryAtStart(binary, wanted, o);
  schedulingAtStart(binary, wanted.scheduling, o.env ?? process.env);
  return failed;
}

/** reexecAtStart's memory part: the re-exec, the mmap threshold, the heap's room; errors said on stderr. */
function memoryAtStart(binary: string, wanted: ProcessSettings, o: ReexecOptions): Error | undefined {
  try {
    reexecWith(wanted, o);
    if (wanted.mmapThreshold !== undefined && !userMmapThreshold(o.env ?? process.env) && !setMmapThreshold(wanted.mmapThreshold)) {
      throw new ProcessMemoryError('INVALID_THRESHOLD', `glibc refused mmap threshold ${String(wanted.mmapThreshold)}`);
    }
    // Only after the one retry (the variable is set): before it, reexecWith has just found the room.
    const retried = (o.env ?? process.env)[HEAP_REEXEC_VAR] !== undefined;
    const room = wanted.heapRoom === undefined || !retried ? undefined : heapRoom((o.maps ?? ownMaps)());
    if (room !== undefined && room < (wanted.heapRoom ?? 0)) {
      console.error(`${binary}: malloc's heap has ${(room / 1048576).toFixed(1)} MiB of room below the next mapping, also after a re-exec: the data plane's buffers lie above 2^31 (slower AEAD and socket calls)`);
    }
    return undefined;
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    console.error(`${binary}: running with V8's and glibc's default settings (${JSON.stringify(wanted)}): ${e.message}`);
    return e;
  }
}
