// Bundles a test driver with esbuild (as the release build bundles apps) into a temp dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

export async function bundle(entry: string): Promise<{ file: string; dispose: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'pbs-bundle-'));
  const file = join(dir, 'main.mjs');
  await build({
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    external: ['koffi'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return {
    file,
    dispose: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
