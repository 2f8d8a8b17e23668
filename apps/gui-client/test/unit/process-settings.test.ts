import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DATA_PLANE_NODE_FLAGS } from '@postern/bin-shared';
import { packageNodeFlags } from '@postern/testing';

describe('process settings', () => {
  it('the installed tunnel-service starts node with the flags src/service/process-settings.ts re-executes `node tunnel-service.js` with', () => {
    expect(packageNodeFlags(join(import.meta.dirname, '..', '..'), 'tunnel-service')).toEqual([...DATA_PLANE_NODE_FLAGS]);
  });
});
