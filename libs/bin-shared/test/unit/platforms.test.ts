import { afterEach, describe, expect, it } from 'vitest';
import {
  TunDeviceManager,
  createDnsController,
  deviceInfo,
  netAdminStatus,
  newDnsNotifier,
  newNetworkNotifier,
  systemUptime,
} from '../../src/index';

const real = process.platform;
function pretend(platform: string): void {
  Object.defineProperty(process, 'platform', { value: platform, configurable: true });
}
afterEach(() => {
  pretend(real);
});

describe('Windows and macOS stubs', () => {
  for (const platform of ['win32', 'darwin']) {
    it(`fail with UNSUPPORTED_PLATFORM on ${platform}`, async () => {
      pretend(platform);
      const unsupported = expect.objectContaining({ code: 'UNSUPPORTED_PLATFORM' });
      await expect(newNetworkNotifier({ tunName: 't' })).rejects.toEqual(unsupported);
      await expect(newDnsNotifier({ method: 'disabled' })).rejects.toEqual(unsupported);
      await expect(createDnsController({ method: 'disabled', tunName: 't' })).rejects.toEqual(unsupported);
      await expect(new TunDeviceManager({ tunName: 't' }).setIps('100.64.0.1', undefined)).rejects.toEqual(unsupported);
      await expect(deviceInfo()).rejects.toEqual(unsupported);
      await expect(systemUptime()).rejects.toEqual(unsupported);
      expect(() => netAdminStatus()).toThrow(unsupported);
    });
  }
});
