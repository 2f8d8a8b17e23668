import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleApp, runNode } from '../../src/bundle';

const dir = mkdtempSync(join(tmpdir(), 'postern-testing-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('bundleApp', () => {
  it('bakes the build info into the bundle', async () => {
    const entry = join(dir, 'entry.ts');
    writeFileSync(entry, 'declare const POSTERN_BUILD_INFO: { version: string };\nconsole.log(POSTERN_BUILD_INFO.version);\n');
    const b = await bundleApp(entry, { binary: 'x', version: '9.9.9', gitSha: 'abc' });
    try {
      const r = runNode(b.file, []);
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe('9.9.9');
    } finally {
      b.dispose();
    }
  });
  it('reports a failing program with its exit status', async () => {
    const entry = join(dir, 'fail.ts');
    writeFileSync(entry, 'process.exit(3);\n');
    const b = await bundleApp(entry, { binary: 'x', version: '1', gitSha: 'abc' });
    try {
      expect(runNode(b.file, []).status).toBe(3);
    } finally {
      b.dispose();
    }
  });
});
