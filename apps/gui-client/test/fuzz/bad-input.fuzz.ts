// The GUI's and the tunnel service's command lines, and the advanced-settings file: any input parses into a
// sane configuration or fails with CliError / falls back to the defaults with a reason. Never a crash.
// `FUZZ_RUNS=100000 npx nx run gui-client:fuzz`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliInput, fuzzRuns, parsesOrRefuses, type FuzzFlagTable } from '@postern/testing';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from '../../src/flags';
import { parseGuiCli } from '../../src/gui/cli';
import { AdvancedSettingsSchema } from '../../src/ipc/messages';
import { parseServiceCli } from '../../src/service/cli';
import { DEFAULT_SETTINGS, loadSettings } from '../../src/service/settings';

const RUNS = fuzzRuns(1000);
const dir = mkdtempSync(join(tmpdir(), 'pgui-fuzz-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// The flag tables of src/gui/cli.ts and src/service/cli.ts (not exported there), plus a name neither knows.
const GUI_FLAGS: FuzzFlagTable = {
  'mock-tunnel': { env: 'POSTERN_GUI_MOCK_TUNNEL', kind: 'bool' },
  'no-open': { kind: 'bool' },
  app: { kind: 'bool' },
  browser: { env: 'POSTERN_GUI_BROWSER', kind: 'value' },
  port: { env: 'POSTERN_GUI_PORT', kind: 'value' },
  'portal-url': { env: 'POSTERN_PORTAL_URL', kind: 'value' },
  'log-format': { env: 'LOG_FORMAT', kind: 'value' },
  'log-filter': { env: 'POSTERN_LOG', kind: 'value' },
  'telemetry-dsn': { env: 'POSTERN_TELEMETRY_DSN', kind: 'value' },
  bogus: { kind: 'value' },
};
const SERVICE_FLAGS: FuzzFlagTable = {
  'tun-name': { env: 'POSTERN_TUN_NAME', kind: 'value' },
  'dns-control': { env: 'POSTERN_DNS_CONTROL', kind: 'value' },
  'log-format': { env: 'LOG_FORMAT', kind: 'value' },
  'no-check': { env: 'POSTERN_NO_CHECK', kind: 'bool' },
  'mock-tunnel': { kind: 'bool' },
  'no-telemetry': { env: 'POSTERN_NO_TELEMETRY', kind: 'bool' },
  bogus: { kind: 'bool' },
};

const typed = (e: unknown): boolean => e instanceof CliError;

describe('gui-client bad input', () => {
  it('postern-gui command line', () => {
    fc.assert(
      fc.property(cliInput(GUI_FLAGS), ({ argv, env }) => {
        parsesOrRefuses(() => parseGuiCli(argv, env), (c) => { expect(['human', 'json']).toContain(c.logFormat); }, typed);
      }),
      { numRuns: RUNS },
    );
  });

  it('postern-tunnel-service command line', () => {
    fc.assert(
      fc.property(cliInput(SERVICE_FLAGS), ({ argv, env }) => {
        parsesOrRefuses(() => parseServiceCli(argv, env), (c) => { expect(c.tunName).toMatch(/^[A-Za-z0-9_.-]{1,15}$/); }, typed);
      }),
      { numRuns: RUNS },
    );
  });

  it('the settings file: garbage gives the defaults and a reason, valid settings are read back', () => {
    const file = join(dir, 'advanced_settings.json');
    const content = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.json({ maxDepth: 3 }),
      fc.record({ authUrl: fc.oneof(fc.constantFrom('https://app.example', 'http://127.0.0.1:1', 'javascript:x'), fc.string()), apiUrl: fc.oneof(fc.constantFrom('wss://a.example', 'ws://[::1]:1'), fc.string()), logFilter: fc.string({ maxLength: 20 }) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(content, (text) => {
        writeFileSync(file, text);
        const r = loadSettings(file);
        expect(AdvancedSettingsSchema.safeParse(r.settings).success).toBe(true);
        if (r.problem !== undefined) expect(r.settings).toEqual(DEFAULT_SETTINGS);
      }),
      { numRuns: Math.ceil(RUNS / 4) },
    );
  });
});
