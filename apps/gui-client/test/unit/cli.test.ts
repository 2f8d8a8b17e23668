import { symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleApp, runNode } from '@postern/testing';

// native packages (koffi) stay external: let a bundle in its temp folder find the workspace's node_modules
function linkNodeModules(file: string): void {
  symlinkSync(join(import.meta.dirname, '../../../../node_modules'), join(dirname(file), 'node_modules'));
}

describe('postern-gui CLI', () => {
  let bundle: Awaited<ReturnType<typeof bundleApp>>;
  beforeAll(async () => {
    bundle = await bundleApp(join(import.meta.dirname, '../../src/main.ts'), { binary: 'postern-gui', version: '1.2.3', gitSha: '0123abcd' });
    linkNodeModules(bundle.file);
  });
  afterAll(() => {
    bundle.dispose();
  });

  it('prints "<binary> <version> (<git sha>)" for --version', () => {
    const r = runNode(bundle.file, ['--version']);
    expect(r.stdout.trim()).toBe('postern-gui 1.2.3 (0123abcd)');
    expect(r.status).toBe(0);
  });

  it('refuses an unknown flag with one line and exit 2', () => {
    const r = runNode(bundle.file, ['--frobnicate']);
    expect(r.stderr.trim()).toBe('postern-gui: unknown flag --frobnicate');
    expect(r.status).toBe(2);
  });
});

describe('postern-tunnel-service CLI', () => {
  let bundle: Awaited<ReturnType<typeof bundleApp>>;
  beforeAll(async () => {
    // The release build bakes the package's main binary (postern-gui) into every entry.
    bundle = await bundleApp(join(import.meta.dirname, '../../src/tunnel-service.ts'), { binary: 'postern-gui', version: '1.2.3', gitSha: '0123abcd' });
    linkNodeModules(bundle.file);
  });
  afterAll(() => {
    bundle.dispose();
  });

  it('prints its own name for --version', () => {
    const r = runNode(bundle.file, ['--version']);
    expect(r.stdout.trim()).toBe('postern-tunnel-service 1.2.3 (0123abcd)');
    expect(r.status).toBe(0);
  });

  it('refuses a bad --dns-control with exit 2', () => {
    const r = runNode(bundle.file, ['--dns-control', 'magic']);
    expect(r.stderr).toMatch(/^postern-tunnel-service: --dns-control: expected one of/);
    expect(r.status).toBe(2);
  });
});
