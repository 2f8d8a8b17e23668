// Builds an app's entry with esbuild into a temporary folder (as the release build does, with a known
// version and SHA) and runs it, so tests exercise the real CLI rather than a function behind it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

export interface BundledRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export async function bundleApp(entry: string, info: { binary: string; version: string; gitSha: string }): Promise<{ file: string; dispose: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-bundle-'));
  const file = join(dir, 'main.mjs');
  await build({
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    external: ['koffi', 'better-sqlite3'],
    define: { POSTERN_BUILD_INFO: JSON.stringify(info) },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return {
    file,
    dispose: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function runNode(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 20_000): BundledRun {
  const r = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', env, timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The node flags an app's build puts on an entry's `#!/usr/bin/env -S node ...` line
 * (`package.json#postern.nodeFlags[entry]`; none when absent): apps test them against the flags their
 * process-settings re-exec adds, so the installed binary and `node main.js` run alike.
 */
export function packageNodeFlags(appDir: string, entry: string): readonly string[] {
  const pkg = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as { postern?: { nodeFlags?: Record<string, unknown> } };
  const flags = pkg.postern?.nodeFlags?.[entry] ?? [];
  if (!Array.isArray(flags) || !flags.every((f) => typeof f === 'string')) throw new Error(`${appDir}/package.json postern.nodeFlags.${entry}: not a list of flags`);
  return flags;
}
