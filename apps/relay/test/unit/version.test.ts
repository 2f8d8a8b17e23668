import { describe, expect, it } from 'vitest';
import { runNode } from '@postern/testing';
import { bundleRelay } from '../support/topology';

describe('postern-relay binary', () => {
  it('prints its version and exits 0; bad flags exit 2 with one line', async () => {
    // Bundled inside the repository (dist/test) so that the external koffi resolves.
    const file = await bundleRelay('relay-unit');
    const v = runNode(file, ['--version']);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toContain('postern-relay 0.0.0-test');
    const bad = runNode(file, ['--bogus']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual(['postern-relay: unknown flag --bogus']);
  }, 60_000);
});
