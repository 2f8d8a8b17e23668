// ESLint flat config for the whole workspace: typescript-eslint strict-type-checked plus Nx module
// boundaries (apps -> libs, never the reverse; platform libs never import connlib/tunnel).
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

// Tags: type:app | type:lib | type:tool; scope:platform (bin-shared, logging, telemetry), scope:connlib,
// scope:tunnel (connlib/tunnel), scope:testing (test support, only for test files), scope:<app>.
function boundaries(inTests) {
  const testing = inTests ? ['scope:testing'] : [];
  return {
    enforceBuildableLibDependency: false,
    allow: [],
    depConstraints: [
      { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
      { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
      { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib', 'type:tool'] },
      { sourceTag: 'scope:platform', notDependOnLibsWithTags: ['scope:tunnel'] },
      { sourceTag: 'scope:connlib', onlyDependOnLibsWithTags: ['scope:connlib', 'scope:platform', ...testing] },
      { sourceTag: 'scope:testing', onlyDependOnLibsWithTags: ['scope:platform', 'scope:connlib', 'scope:testing'] },
    ],
  };
}

// What tools' src (type:tool) may import from @postern/testing.
const TESTING_FOR_TOOLS = ['mainIsolateOf', 'parseTraceGcLine', 'parseTraceGcText', 'TraceGcLineReader', 'MAX_TRACE_GC_LINE', 'TraceGcEvent', 'GcKind'];

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**', '**/coverage/**', '**/*.d.ts'],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ['*.config.ts', '*.config.mjs', 'vitest.*.ts'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
      '@nx/enforce-module-boundaries': ['error', boundaries(false)],
      // Nx checks tags over the project graph, which also holds test-file imports; that product code never
      // imports the test-support lib is checked per file here instead.
      'no-restricted-imports': ['error', { paths: [{ name: '@postern/testing', message: 'test support is for test files only' }] }],
    },
  },
  {
    // type:tool projects (tools/*: bench, faults) are test harness themselves: their src may use the parsers of
    // the test-support lib (one `--trace-gc` parser for both); anything else from it still needs a reason.
    files: ['tools/*/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: '@postern/testing', allowImportNames: TESTING_FOR_TOOLS, message: 'test support is for test files only (tools may use its parsers)' }] }],
    },
  },
  {
    // Tests may use looser patterns that the product code may not.
    files: ['**/test/**/*.ts', '**/*.test.ts', '**/*.e2e.ts', '**/*.bench.ts', '**/*.fuzz.ts'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', boundaries(true)],
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-empty-function': 'off',
    },
  },
  {
    // Tool configuration files import the shared presets under tools/.
    files: ['**/*.config.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
