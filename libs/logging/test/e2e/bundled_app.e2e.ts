// The logging lib inside an esbuild bundle, run as a real process: human output through pino-pretty in
// process (a pino transport would need a worker file that bundles do not have), JSON, files, exit code 2.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { bundle } from '../support/bundle';

function runNode(file: string, args: readonly string[], env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', env, timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('logging in a bundled app', () => {
  let app: { file: string; dispose: () => void };
  const dir = mkdtempSync(join(tmpdir(), 'plog-e2e-'));
  beforeAll(async () => {
    app = await bundle(join(import.meta.dirname, 'support/app.ts'));
  });
  afterAll(() => {
    app.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints human lines with module names and redacted secrets', () => {
    const r = runNode(app.file, ['--log-filter', 'info,tunnel=debug'], { ...process.env, POSTERN_LOG: '' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/DEBUG.*tunnel: tunnel up/);
    expect(r.stdout).toMatch(/INFO.*portal: connected/);
    expect(r.stdout).toMatch(/ERROR.*outer: root/);
    expect(r.stdout).not.toContain('tok-123');
  });

  it('prints JSON with --log-format json and filters from POSTERN_LOG', () => {
    const r = runNode(app.file, ['--log-format', 'json'], { ...process.env, POSTERN_LOG: 'warn' });
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['msg'])).toEqual(['outer: root']);
  });

  it('writes log files', () => {
    const r = runNode(app.file, ['--log-dir', dir], process.env);
    expect(r.status).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([expect.stringMatching(/^demo\.\d{4}(-\d\d){5}\.log$/), 'demo.latest']);
  });

  it('an invalid filter is one line on stderr and exit code 2', () => {
    const r = runNode(app.file, [], { ...process.env, POSTERN_LOG: 'info,tunnel=chatty' });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('demo-app: invalid log filter directive "tunnel=chatty": "chatty" is not a level (trace, debug, info, warn, error, fatal, silent, off)\n');
    expect(r.stdout).toBe('');
  });
});
