// The gateway's command line and environment: any argv either parses into a sane configuration or fails with
// CliError (code BAD_CLI, one line), never anything else. `FUZZ_RUNS=100000 npx nx run gateway:fuzz`.
import { argvInput, cliInput, fuzzRuns, parsesOrRefuses, replayCorpus } from '@postern/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLAGS, parseCli, type GatewayCliConfig } from '../../src/cli';
import { CliError } from '../../src/flags';

const RUNS = fuzzRuns(1500);

function sane(c: GatewayCliConfig): void {
  expect(Number.isInteger(c.tunThreads) && c.tunThreads >= 1).toBe(true);
  expect(Number.isInteger(c.listenPort) && c.listenPort >= 0 && c.listenPort <= 65535).toBe(true);
  if (c.maxPartitionTimeMs !== undefined) expect(Number.isFinite(c.maxPartitionTimeMs)).toBe(true);
  expect(c.tunName.length).toBeLessThanOrEqual(15);
  expect(['human', 'json']).toContain(c.logFormat);
}

const check = (argv: readonly string[], env: Record<string, string>): void => {
  parsesOrRefuses(() => parseCli(argv, env), sane, (e) => e instanceof CliError);
};

describe('gateway bad input', () => {
  it('the command line parses or fails with CliError', () => {
    replayCorpus(import.meta.dirname, 'gateway-cli', argvInput, (argv) => { check(argv, {}); });
    fc.assert(fc.property(cliInput(FLAGS), ({ argv, env }) => { check(argv, env); }), { numRuns: RUNS });
  });
});
