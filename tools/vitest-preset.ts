// The one Vitest configuration every project uses. A project's vitest.config.ts calls
// `posternVitest(import.meta.dirname)`; the kind of run (unit tests, e2e, fuzz) is chosen by
// POSTERN_TEST_KIND so that each Nx target runs its own files:
//   test -> test/**/*.test.ts, e2e -> test/**/*.e2e.ts, fuzz -> test/**/*.fuzz.ts,
//   bench -> test/**/*.bench.ts (benchmarks that measure and print their own ratios inside `it` blocks)
// When POSTERN_TEST_RESULTS is set (by `npm test`), a JSON report is written there per project and kind,
// which tools/scripts/test-all.mjs sums into the closing `N passed, N failed` line.
import { basename } from 'node:path';
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

export function posternVitest(projectRoot: string, overrides: { testTimeout?: number; e2eTimeout?: number } = {}): ViteUserConfig {
  const kind = kindFromEnv();
  const resultsDir = process.env['POSTERN_TEST_RESULTS'];
  const name = basename(projectRoot);
  const reporters = resultsDir ? ['default', 'json'] : ['default'];
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
      testTimeout: kind === 'bench' ? 900_000 : kind === 'e2e' ? (overrides.e2eTimeout ?? 120_000) : (overrides.testTimeout ?? 20_000),
      hookTimeout: kind === 'e2e' ? 120_000 : 30_000,
      // Real-network tests share the kernel's namespace and device tables: run them one file at a time.
      fileParallelism: kind !== 'e2e' && kind !== 'bench',
      pool: 'forks',
    },
  });
}
