import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEVICE_ID_APP, deriveDeviceId, getOrCreateDeviceId, parseDeviceIdFile } from '../../src/index';

const dir = mkdtempSync(join(tmpdir(), 'pbs-devid-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const MACHINE_ID = '3d1219c7c4c5404aaa1f6d2a48adfda4';

describe('device_id', () => {
  it('derives hex(HMAC-SHA256(key = app id, machine-id)), different per app', () => {
    const expected = createHmac('sha256', DEVICE_ID_APP.client).update(MACHINE_ID).digest('hex');
    expect(deriveDeviceId(DEVICE_ID_APP.client, `${MACHINE_ID}\n`)).toBe(expected);
    expect(deriveDeviceId(DEVICE_ID_APP.gateway, MACHINE_ID)).not.toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
  });

  it('creates the file from machine-id with modes 0770/0640, then reads it back', async () => {
    const machineIdPath = join(dir, 'machine-id');
    writeFileSync(machineIdPath, `${MACHINE_ID}\n`);
    const configDir = join(dir, 'cfg');
    const a = await getOrCreateDeviceId({ appId: DEVICE_ID_APP.gateway, configDir, machineIdPath });
    expect(a.source).toBe('machine-id');
    expect(a.id).toBe(deriveDeviceId(DEVICE_ID_APP.gateway, MACHINE_ID));
    expect(JSON.parse(readFileSync(a.path, 'utf8'))).toEqual({ id: a.id });
    expect(statSync(configDir).mode & 0o777).toBe(0o770);
    expect(statSync(a.path).mode & 0o777).toBe(0o640);
    const b = await getOrCreateDeviceId({ appId: DEVICE_ID_APP.client, configDir, machineIdPath });
    expect(b).toEqual({ id: a.id, source: 'file', path: a.path }); // never overwritten, even for another app
  });

  it('falls back to a random id without machine-id, and many concurrent callers agree on one id', async () => {
    const configDir = join(dir, 'race');
    const ids = await Promise.all(
      Array.from({ length: 8 }, () => getOrCreateDeviceId({ appId: DEVICE_ID_APP.client, configDir, machineIdPath: join(dir, 'nope') })),
    );
    expect(new Set(ids.map((i) => i.id)).size).toBe(1);
    expect(ids.some((i) => i.source === 'random')).toBe(true);
  });

  it('rejects a corrupt file with DEVICE_ID_INVALID instead of replacing it', async () => {
    expect(() => parseDeviceIdFile('{"id":"xyz"}')).toThrow(expect.objectContaining({ code: 'DEVICE_ID_INVALID' }));
    const configDir = join(dir, 'bad');
    await getOrCreateDeviceId({ appId: 'x', configDir, machineIdPath: join(dir, 'nope') });
    writeFileSync(join(configDir, 'device-id.json'), 'not json');
    await expect(getOrCreateDeviceId({ appId: 'x', configDir })).rejects.toMatchObject({ code: 'DEVICE_ID_INVALID' });
  });
});
