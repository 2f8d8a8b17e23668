import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DATA_PLANE_NODE_FLAGS } from '@postern/bin-shared';

describe('process settings', () => {
  it('the installed main starts node with the data plane flags its re-exec adds to `node main.js`', () => {
    // the build puts package.json#postern.nodeFlags on the entry's #! line; src/process-settings.ts re-executes with DATA_PLANE_NODE_FLAGS
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { postern: { nodeFlags: Record<string, string[]> } };
    expect(pkg.postern.nodeFlags['main']).toEqual([...DATA_PLANE_NODE_FLAGS]);
    expect(DATA_PLANE_NODE_FLAGS).toContain('--no-memory-reducer');
  });
});
