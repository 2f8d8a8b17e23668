// The one Vitest configuration every project uses. A project's vitest.config.ts calls
// `posternVitest(import.meta.dirname)`; the kind of run (unit tests, e2e, fuzz) is chosen by
// POSTERN_TEST_KIND so that each Nx target runs its own files:
//   test -> test/**/*.test.ts, e2e -> test/**/*.e2e.ts, fuzz -> test/**/*.fuzz.ts,
//   bench -> test/**/*.bench.ts (benchmarks that measure and print their own ratios inside `it` blocks)
// When POSTERN_TEST_RESULTS is set (by `npm test`), a JSON report is written there per project and kind,
// which tools/scripts/test-all.mjs sums into the closing `N passed, N failed` line.
//
// Fuzz runs: libs/testing/src/fuzz-setup.ts counts every input fast-check feeds a property (and what suites
// record with `recordInputs`); the FuzzCountReporter below prints `fuzz <project> > <test>: N inputs` per test
// and a `fuzz <project>: N inputs in M tests` summary. FUZZ_RUNS and POSTERN_FUZZ_RUNS are mirrored so that
// either name lengthens every suite that reads one of them (`FUZZ_RUNS=100000 npx nx run <p>:fuzz`).
import { basename, join } from 'node:path';
import type { Reporter, TestCase, TestModule } from 'vitest/node';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

type Kind = 'test' | 'e2e' | 'fuzz' | 'bench';

const patterns: Record<Kind, string> = {
  test: 'test/**/*.test.ts',
  e2e: 'test/**/*.e2e.ts',
  fuzz: 'test/**/*.fuzz.ts',
  bench: 'test/**/*.bench.ts',
};

function kindFromEnv(): Kind {
  const raw = process.env['POSTERN_TEST_KIND'] ?? 'test';
  if (raw === 'test' || raw === 'e2e' || raw === 'fuzz' || raw === 'bench') return raw;
  throw new Error(`POSTERN_TEST_KIND must be test, e2e, fuzz or bench (got ${raw})`);
}

const FUZZ_SETUP = join(import.meta.dirname, '..', 'libs', 'testing', 'src', 'fuzz-setup.ts');

function numberField(o: object, key: string): number | undefined {
  const v: unknown = Reflect.get(o, key);
  return typeof v === 'number' ? v : undefined;
}

/** Prints the number of inputs each fuzz test tried, and a summary. */
export class FuzzCountReporter implements Reporter {
  private inputs = 0;
  private tests = 0;
  private maxHeap = 0;

  constructor(private readonly project: string) {}

  onTestCaseResult(testCase: TestCase): void {
    // Fields set by libs/testing/src/fuzz.ts (read without its TaskMeta augmentation, which not every project sees).
    const meta: object = testCase.meta();
    const n = numberField(meta, 'fuzzInputs') ?? 0;
    const heapBytes = numberField(meta, 'fuzzHeapBytes');
    this.inputs += n;
    this.tests++;
    this.maxHeap = Math.max(this.maxHeap, heapBytes ?? 0);
    const heap = heapBytes === undefined ? '' : ` (heap ${(heapBytes / 2 ** 20).toFixed(0)} MiB)`;
    process.stdout.write(`fuzz ${this.project} > ${testCase.fullName}: ${n} inputs${heap}\n`);
  }

  onTestRunEnd(_modules: readonly TestModule[]): void {
    process.stdout.write(`fuzz ${this.project}: ${this.inputs} inputs in ${this.tests} tests, max heap ${(this.maxHeap / 2 ** 20).toFixed(0)} MiB\n`);
  }
}

function fuzzEnv(): Record<string, string> {
  const runs = process.env['FUZZ_RUNS'] ?? process.env['POSTERN_FUZZ_RUNS'];
  return runs === undefined ? {} : { FUZZ_RUNS: runs, POSTERN_FUZZ_RUNS: runs };
}

export function posternVitest(projectRoot: string, overrides: { testTimeout?: number; e2eTimeout?: number } = {}): ViteUserConfig {
  const kind = kindFromEnv();
  const resultsDir = process.env['POSTERN_TEST_RESULTS'];
  const name = basename(projectRoot);
  const reporters: (string | Reporter)[] = resultsDir ? ['default', 'json'] : ['default'];
  if (kind === 'fuzz') reporters.push(new FuzzCountReporter(name));
  const outputFile = resultsDir ? { json: `${resultsDir}/${name}.${kind}.json` } : undefined;
  return defineConfig({
    root: projectRoot,
    test: {
      name,
      include: [patterns[kind]],
      environment: 'node',
      reporters,
      ...(outputFile ? { outputFile } : {}),
      passWithNoTests: kind !== 'test',
      ...(kind === 'fuzz' ? { setupFiles: [FUZZ_SETUP], env: fuzzEnv() } : {}),
      // Fuzz and unit budgets are counted in inputs and packets, not seconds: on the shared 2 cores a bounded run can
      // take far longer (snownet's 2.7 s allocation test failed a CI run on record; under load here it timed out at
      // 20 s). The timeout only catches hangs; so does the hooks' (some bundle an app with esbuild first).
      testTimeout: kind === 'bench' ? 900_000 : kind === 'e2e' ? (overrides.e2eTimeout ?? 120_000) : kind === 'fuzz' ? 120_000 : (overrides.testTimeout ?? 90_000),
      hookTimeout: kind === 'e2e' ? 120_000 : 90_000,
      // Real-network tests share the kernel's namespace and device tables: run them one file at a time.
      fileParallelism: kind !== 'e2e' && kind !== 'bench',
      pool: 'forks',
    },
  });
}
