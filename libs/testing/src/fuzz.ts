// Fuzz support shared by every `*.fuzz.ts` suite:
// - `fuzzRuns(default)`: the bounded CI budget, or FUZZ_RUNS / POSTERN_FUZZ_RUNS for a longer run;
// - `installFuzzCounter()` (run by the preset's fuzz setup file): a fast-check global plugin that counts every
//   predicate execution, stored per test in `task.meta.fuzzInputs` so the preset's reporter prints
//   `fuzz <project> > <test>: N inputs` and a per-project summary;
// - `recordInputs(n)`: for hand-written loops (corpus replays) that do not go through fast-check;
// - `loadCorpus` / `replayCorpus`: `test/fuzz/corpus/<target>.json` files of inputs that once failed, replayed on
//   every run before the random ones.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** Inputs the test fed to the code under test (fast-check executions + recorded corpus replays). */
    fuzzInputs?: number;
    /** Heap in use after the test, bytes (to spot unbounded growth across a run). */
    fuzzHeapBytes?: number;
  }
}

/** Inputs per property: FUZZ_RUNS (or POSTERN_FUZZ_RUNS) when set to a positive integer, else `fallback`. */
export function fuzzRuns(fallback: number): number {
  const raw = process.env['FUZZ_RUNS'] ?? process.env['POSTERN_FUZZ_RUNS'];
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

let counted = 0;
let installed = false;

/** Adds `n` inputs to the current test's count (for loops that do not go through fast-check). */
export function recordInputs(n: number): void {
  counted += n;
}

/** Inputs counted so far in the current test. */
export function currentInputs(): number {
  return counted;
}

/**
 * Per-property time cap of a bounded (CI) run: FUZZ_TIME_LIMIT_MS, default 8000; none when FUZZ_RUNS or
 * POSTERN_FUZZ_RUNS asks for a longer run (or FUZZ_TIME_LIMIT_MS=0). A capped property stops generating and
 * passes with the inputs it tried (the count printed is the real one).
 */
export function fuzzTimeLimitMs(): number | undefined {
  const raw = process.env['FUZZ_TIME_LIMIT_MS'];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  }
  return process.env['FUZZ_RUNS'] !== undefined || process.env['POSTERN_FUZZ_RUNS'] !== undefined ? undefined : 8000;
}

/** Installs the counting plugin, the CI time cap and the per-test hooks; idempotent. */
export function installFuzzCounter(): void {
  if (installed) return;
  installed = true;
  // The time cap is the outer plugin, so that the counter inside it counts only inputs really run.
  const limit = fuzzTimeLimitMs();
  if (limit !== undefined) fc.installGlobalPlugin(fc.interruptAfterTimeLimit(limit));
  fc.installGlobalPlugin(() => ({
    decorateRun: (run) => (value) => {
      counted++;
      return run(value);
    },
  }));
  beforeEach(() => {
    counted = 0;
  });
  afterEach((ctx) => {
    ctx.task.meta.fuzzInputs = counted;
    ctx.task.meta.fuzzHeapBytes = process.memoryUsage().heapUsed;
  });
}

export interface CorpusEntry<T> {
  /** What the input is or which bug it found. */
  readonly note: string;
  readonly input: T;
}

/**
 * Reads `<dir>/corpus/<target>.json` (an array of `{ note, input }`); `[]` when the file does not exist.
 * `decode` turns the JSON `input` into the target's input (e.g. hex -> bytes) and throws on a bad entry.
 */
export function loadCorpus<T>(fuzzDir: string, target: string, decode: (input: unknown) => T): CorpusEntry<T>[] {
  const file = join(fuzzDir, 'corpus', `${target}.json`);
  if (!existsSync(file)) return [];
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(raw)) throw new Error(`${file}: expected an array of { note, input }`);
  return raw.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null || !('input' in e)) throw new Error(`${file}[${i}]: expected { note, input }`);
    const note = 'note' in e && typeof e.note === 'string' ? e.note : `#${i}`;
    return { note, input: decode(e.input) };
  });
}

/** Runs `check` on every corpus entry (counted as inputs); a failure names the entry. Returns how many ran. */
export function replayCorpus<T>(fuzzDir: string, target: string, decode: (input: unknown) => T, check: (input: T) => void): number {
  const entries = loadCorpus(fuzzDir, target, decode);
  for (const e of entries) {
    recordInputs(1);
    try {
      check(e.input);
    } catch (err) {
      throw new Error(`corpus ${target}: "${e.note}" fails`, { cause: err });
    }
  }
  return entries.length;
}

/** Corpus decoder for byte inputs written as hex strings. */
export function hexInput(input: unknown): Uint8Array {
  if (typeof input !== 'string' || !/^(?:[0-9a-f]{2})*$/i.test(input)) throw new Error('corpus input must be a hex string');
  return Uint8Array.from(Buffer.from(input, 'hex'));
}

/** Corpus decoder for string inputs. */
export function textInput(input: unknown): string {
  if (typeof input !== 'string') throw new Error('corpus input must be a string');
  return input;
}

/** Corpus decoder for argv inputs. */
export function argvInput(input: unknown): string[] {
  if (!Array.isArray(input) || !input.every((a): a is string => typeof a === 'string')) throw new Error('corpus input must be an array of strings');
  return input;
}

/** The flag table shape the apps share (`--name` -> optional environment variable, value or boolean). */
export interface FuzzFlagTable {
  readonly [name: string]: { readonly env?: string; readonly kind: string };
}

/** Values that break naive parsers: empty, huge, unicode, numbers out of range, URLs, durations, paths. */
export function nastyValue(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.constantFrom('', ' ', '0', '-1', '65536', '1e3', 'NaN', '0x10', '30s', '15m', '99999999999999999999d', 'wss://x', 'ws://[::1]:1/', 'http://', 'json', 'human', 'true', 'yes', '../../etc/passwd', '\u0000', 'é', 'a'.repeat(300)),
    fc.nat(70_000).map(String),
    fc.tuple(fc.constantFrom('ws', 'wss', 'http', 'https', 'ftp', 'javascript'), fc.string({ maxLength: 12 })).map(([s, rest]) => `${s}://${rest}`),
  );
}

/**
 * argv for an app with this flag table: known flags as `--f v` / `--f=v` / bare, unknown and prototype-named
 * flags, positionals, dangling `--f`; plus an environment filled from the table's variables.
 */
export function cliInput(flags: FuzzFlagTable): fc.Arbitrary<{ argv: string[]; env: Record<string, string> }> {
  const names = Object.keys(flags);
  const envNames = Object.values(flags).flatMap((f) => (f.env === undefined ? [] : [f.env]));
  const arg = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...names), nastyValue(), fc.constantFrom('space', 'eq', 'bare')).map(([n, v, how]) => (how === 'space' ? [`--${n}`, v] : how === 'eq' ? [`--${n}=${v}`] : [`--${n}`])) },
    { weight: 1, arbitrary: fc.constantFrom('--__proto__', '--constructor', '--toString', '--hasOwnProperty=x', '--', '--=', '-', '-x', 'positional', '--unknown-flag').map((a) => [a]) },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }).map((a) => [a]) },
  );
  const env = envNames.length === 0 ? fc.constant({}) : fc.dictionary(fc.constantFrom(...envNames), nastyValue(), { maxKeys: 4 });
  return fc.record({ argv: fc.array(arg, { maxLength: 6 }).map((a) => a.flat()), env });
}

/**
 * Runs a parser on bad input: it returns (then `onResult` checks the result's invariants) or throws an error
 * that `typed` accepts (a package's error class with a stable code and a one-line message); anything else fails.
 */
export function parsesOrRefuses<T>(parse: () => T, onResult: (result: T) => void, typed: (err: unknown) => boolean): void {
  let result: T;
  try {
    result = parse();
  } catch (err) {
    if (!typed(err)) throw new Error(`untyped failure: ${String(err)}`, { cause: err });
    if (err instanceof Error && err.message.includes('\n')) throw new Error(`multi-line error message: ${JSON.stringify(err.message)}`);
    return;
  }
  onResult(result);
}
