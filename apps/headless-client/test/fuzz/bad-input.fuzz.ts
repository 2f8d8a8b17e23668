// The headless client's command line and environment: any argv either parses into a sane configuration or
// fails with CliError (code BAD_CLI, one line). `FUZZ_RUNS=100000 npx nx run headless-client:fuzz`.
import { argvInput, cliInput, fuzzRuns, parsesOrRefuses, replayCorpus } from '@postern/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CliError, FLAGS, parseCli, type ClientCliConfig } from '../../src/cli';

const RUNS = fuzzRuns(1500);

function sane(c: ClientCliConfig): void {
  expect(() => new URL(c.apiUrl)).not.toThrow();
  expect(c.tunName).toMatch(/^[A-Za-z0-9_.-]{1,15}$/);
  if (c.maxPartitionTimeMs !== undefined) expect(Number.isFinite(c.maxPartitionTimeMs)).toBe(true);
  if (c.token !== undefined) expect(c.token).toBe(c.token.trim());
  expect(['human', 'json']).toContain(c.logFormat);
}

const check = (argv: readonly string[], env: Record<string, string>): void => {
  parsesOrRefuses(() => parseCli(argv, env), sane, (e) => e instanceof CliError);
};

describe('headless client bad input', () => {
  it('the command line parses or fails with CliError', () => {
    replayCorpus(import.meta.dirname, 'client-cli', argvInput, (argv) => { check(argv, {}); });
    fc.assert(fc.property(cliInput(FLAGS), ({ argv, env }) => { check(argv, env); }), { numRuns: RUNS });
  });
});
