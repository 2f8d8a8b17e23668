// A stable device id in `<config dir>/device-id.json` (`{"id":"<64 hex>"}`): read if present; else derived on
// Linux as hex(HMAC-SHA256(key = per-app id, message = /etc/machine-id trimmed)); else random. Written
// atomically (temp file + link(2), which fails rather than overwrite), never overwritten; dir 0770, file 0640.
import { createHmac, randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BinSharedError } from './errors';

/** Per-app keys for the derivation, so that a client and a gateway on one machine get different ids. */
export const DEVICE_ID_APP = {
  client: 'postern-client:6b0e4d1c3f7a4a8e9d2b5c1e0f3a7d94',
  gateway: 'postern-gateway:2f9c8e7d6b5a4c3d8e1f0a9b7c6d5e42',
} as const;

export const DEVICE_ID_FILE = 'device-id.json';

export type DeviceIdSource = 'file' | 'machine-id' | 'random';

export interface DeviceId {
  /** 64 lowercase hex characters. */
  readonly id: string;
  readonly source: DeviceIdSource;
  readonly path: string;
}

export interface DeviceIdOptions {
  /** A DEVICE_ID_APP value (or any stable per-app string). */
  readonly appId: string;
  /** Directory of device-id.json (usually knownDir('serviceConfig')). */
  readonly configDir: string;
  /** Defaults to /etc/machine-id on Linux; ignored elsewhere. */
  readonly machineIdPath?: string;
}

const ID_RE = /^[0-9a-f]{64}$/;

/** hex(HMAC-SHA256(key = appId, message = machineId.trim())). */
export function deriveDeviceId(appId: string, machineId: string): string {
  return createHmac('sha256', appId).update(machineId.trim()).digest('hex');
}

/** Parses the file's content; throws DEVICE_ID_INVALID if it is not `{"id":"<64 hex>"}`. */
export function parseDeviceIdFile(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BinSharedError('DEVICE_ID_INVALID', 'device id file is not JSON', { cause: err });
  }
  if (typeof parsed === 'object' && parsed !== null && 'id' in parsed && typeof parsed.id === 'string') {
    const id = parsed.id.toLowerCase();
    if (ID_RE.test(id)) return id;
  }
  throw new BinSharedError('DEVICE_ID_INVALID', 'device id file does not hold {"id":"<64 hex>"}');
}

async function readExisting(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new BinSharedError('DEVICE_ID_IO', `cannot read ${path}`, { cause: err });
  }
  return parseDeviceIdFile(text);
}

async function freshId(opts: DeviceIdOptions): Promise<{ id: string; source: DeviceIdSource }> {
  if (process.platform === 'linux') {
    try {
      const machineId = (await readFile(opts.machineIdPath ?? '/etc/machine-id', 'utf8')).trim();
      if (/^[0-9a-fA-F]{32}$/.test(machineId)) return { id: deriveDeviceId(opts.appId, machineId), source: 'machine-id' };
    } catch {
      // no machine-id (containers): fall back to random
    }
  }
  return { id: randomBytes(32).toString('hex'), source: 'random' };
}

/** Reads the device id, creating the file if it does not exist. Never overwrites an existing file. */
export async function getOrCreateDeviceId(opts: DeviceIdOptions): Promise<DeviceId> {
  const path = join(opts.configDir, DEVICE_ID_FILE);
  const existing = await readExisting(path);
  if (existing !== undefined) return { id: existing, source: 'file', path };

  const { id, source } = await freshId(opts);
  const tmp = join(opts.configDir, `.${DEVICE_ID_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(opts.configDir, { recursive: true, mode: 0o770 });
    await chmod(opts.configDir, 0o770);
    const fh = await open(tmp, 'wx', 0o640);
    try {
      await fh.writeFile(`${JSON.stringify({ id })}\n`);
      await fh.chmod(0o640);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, path); // atomic, and fails with EEXIST instead of overwriting
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      const raced = await readExisting(path);
      if (raced !== undefined) return { id: raced, source: 'file', path };
      throw err;
    }
  } catch (err) {
    if (err instanceof BinSharedError) throw err;
    throw new BinSharedError('DEVICE_ID_IO', `cannot write ${path}`, { cause: err });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return { id, source, path };
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === code;
}
