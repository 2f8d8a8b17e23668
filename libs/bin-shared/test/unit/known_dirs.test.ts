import { describe, expect, it } from 'vitest';
import { KNOWN_DIRS_ENV, ipcSocketPath, knownDir, knownDirs } from '../../src/index';

describe('known_dirs', () => {
  it('uses the Linux defaults and XDG variables', () => {
    const d = knownDirs({ HOME: '/home/ann', XDG_CONFIG_HOME: '/cfg', XDG_CACHE_HOME: '' }, 'linux');
    expect(d).toEqual({
      serviceConfig: '/var/lib/postern/config',
      serviceLogs: '/var/log/postern',
      runtime: '/run/postern',
      userConfig: '/cfg/postern',
      userLogs: '/home/ann/.cache/postern/logs',
      tokenFile: '/etc/postern/token',
    });
    expect(ipcSocketPath({}, 'linux')).toBe('/run/postern/tunnel.sock');
  });

  it('lets every directory be overridden by its environment variable', () => {
    const env = Object.fromEntries(Object.entries(KNOWN_DIRS_ENV).map(([k, v]) => [v, `/tmp/t/${k}`]));
    const d = knownDirs(env, 'linux');
    for (const k of Object.keys(KNOWN_DIRS_ENV)) expect(d[k as keyof typeof d]).toBe(`/tmp/t/${k}`);
    expect(KNOWN_DIRS_ENV.serviceConfig).toBe('POSTERN_CONFIG_DIR');
  });

  it('throws UNSUPPORTED_PLATFORM on Windows and macOS unless overridden', () => {
    expect(() => knownDir('serviceConfig', {}, 'win32')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_PLATFORM' }));
    expect(() => knownDir('runtime', {}, 'darwin')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_PLATFORM' }));
    expect(knownDir('runtime', { POSTERN_RUNTIME_DIR: '/x' }, 'darwin')).toBe('/x');
  });
});
