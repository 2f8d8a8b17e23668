import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleApp, runNode } from '@postern/testing';

describe('postern-client CLI', () => {
  let bundle: Awaited<ReturnType<typeof bundleApp>>;
  beforeAll(async () => {
    bundle = await bundleApp(join(import.meta.dirname, '../../src/main.ts'), { binary: 'postern-client', version: '1.2.3', gitSha: '0123abcd' });
  });
  afterAll(() => {
    bundle.dispose();
  });

  it('prints "<binary> <version> (<git sha>)" for --version', () => {
    const r = runNode(bundle.file, ['--version']);
    expect(r.stdout.trim()).toBe('postern-client 1.2.3 (0123abcd)');
    expect(r.status).toBe(0);
  });
});
