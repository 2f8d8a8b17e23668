import { describe, expect, it } from 'vitest';
import { buildInfo, versionLine } from '../../src/build_info';

describe('build_info', () => {
  it('falls back to a dev version outside a release build', () => {
    expect(buildInfo('postern-gateway')).toEqual({ version: '0.0.0-dev', gitSha: 'unknown', binary: 'postern-gateway' });
  });
  it('formats the --version line as "<binary> <version> (<sha>)"', () => {
    expect(versionLine({ binary: 'postern-relay', version: '1.2.3', gitSha: 'abc123' })).toBe('postern-relay 1.2.3 (abc123)');
  });
});
