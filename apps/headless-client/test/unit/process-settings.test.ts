import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DATA_PLANE_NODE_FLAGS } from '@postern/bin-shared';
import { packageNodeFlags } from '@postern/testing';

describe('process settings', () => {
  it('the installed main starts node with the flags src/process-settings.ts re-executes `node main.js` with', () => {
    expect(packageNodeFlags(join(import.meta.dirname, '..', '..'), 'main')).toEqual([...DATA_PLANE_NODE_FLAGS]);
  });
});
