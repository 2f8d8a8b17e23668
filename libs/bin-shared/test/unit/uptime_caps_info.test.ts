import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkNetAdmin,
  deviceInfo,
  isPlaceholderSerial,
  missingNetAdminMessage,
  netAdminStatus,
  parseCapEff,
  parseOsRelease,
  parseProcUptime,
  systemUptime,
} from '../../src/index';

const dir = mkdtempSync(join(tmpdir(), 'pbs-unit-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('uptime', () => {
  it('parses /proc/uptime and reads the real one', async () => {
    expect(parseProcUptime('12345.67 54321.00\n')).toBe(12345.67);
    expect(parseProcUptime('garbage')).toBeUndefined();
    expect(await systemUptime()).toBeGreaterThan(0);
    expect(await systemUptime(join(dir, 'missing'))).toBeUndefined();
  });
});

describe('capabilities', () => {
  const status = (capEff: string) => {
    const p = join(dir, `status-${capEff}`);
    writeFileSync(p, `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`);
    return p;
  };

  it('reads CAP_NET_ADMIN (bit 12) from CapEff', () => {
    expect(parseCapEff('CapEff:\t0000000000001000\n')).toBe(0x1000n);
    expect(netAdminStatus({ uid: 1000, statusPath: status('0000000000001000') })).toEqual({ ok: true, root: false, capNetAdmin: true });
    expect(netAdminStatus({ uid: 1000, statusPath: status('0000000000000fff') }).ok).toBe(false);
    expect(netAdminStatus({ uid: 0, statusPath: status('0000000000000000') }).ok).toBe(true);
  });

  it('fails with MISSING_CAPABILITY and a message that says what to do', () => {
    expect(() => {
      checkNetAdmin('postern-gateway', { uid: 1000, statusPath: status('0000000000000000') });
    }).toThrow(
      expect.objectContaining({ code: 'MISSING_CAPABILITY', message: missingNetAdminMessage('postern-gateway') }),
    );
    expect(missingNetAdminMessage('x')).toMatch(/sudo.*AmbientCapabilities=CAP_NET_ADMIN.*--no-check/);
    expect(() => {
      checkNetAdmin('postern-gateway', { uid: 1000, statusPath: status('0000000000001000') });
    }).not.toThrow();
  });
});

describe('device_info', () => {
  it('parses os-release', () => {
    expect(parseOsRelease('NAME="Ubuntu"\nVERSION_ID="24.04"\n# c\nPRETTY_NAME=\'Ubuntu 24.04 LTS\'\nID=ubuntu\n')).toEqual({
      NAME: 'Ubuntu',
      VERSION_ID: '24.04',
      PRETTY_NAME: 'Ubuntu 24.04 LTS',
      ID: 'ubuntu',
    });
  });

  it('ignores placeholder serials', () => {
    for (const s of ['123456789', 'To Be Filled By O.E.M.', 'Default string', '0', '00000000-0000-0000-0000-000000000000', ' System Serial Number ']) {
      expect(isPlaceholderSerial(s)).toBe(true);
    }
    expect(isPlaceholderSerial('PF2ABCDE')).toBe(false);
  });

  it('reads OS, serial and UUID from a filesystem root', async () => {
    const root = join(dir, 'root');
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'sys/class/dmi/id'), { recursive: true });
    writeFileSync(join(root, 'etc/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\n');
    writeFileSync(join(root, 'sys/class/dmi/id/product_serial'), '123456789\n');
    writeFileSync(join(root, 'sys/class/dmi/id/board_serial'), 'BRD-42\n');
    writeFileSync(join(root, 'sys/class/dmi/id/product_uuid'), '4c4c4544-0042-3510-8052-b4c04f4e3232\n');
    const info = await deviceInfo({ root });
    expect(info).toMatchObject({ osName: 'Debian GNU/Linux 12 (bookworm)', osVersion: '12', serial: 'BRD-42', uuid: '4c4c4544-0042-3510-8052-b4c04f4e3232' });
    expect(info.kernelVersion).not.toBe('');
    expect(info.hostname).not.toBe('');
  });
});
