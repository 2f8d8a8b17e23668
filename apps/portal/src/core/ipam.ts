// Tunnel IP allocation: stable per device (the record is stored), from 100.64.0.0/11 and
// fd00:2021:1111::/107. One offset serves both families, so the pair is unique together.
import { createHash } from 'node:crypto';
import { randomBytesFrom, randomUuid, type Rng } from './rng';
import type { DeviceRecord, DeviceRole, Store } from './store';

const SIZE = 1 << 21; // /11 and /107 both hold 2^21 addresses
const V4_BASE = (100 << 24) | (64 << 16);

export function ipv4At(offset: number): string {
  const v = (V4_BASE + offset) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function ipv6At(offset: number): string {
  const hi = Math.floor(offset / 65536);
  const lo = offset % 65536;
  return hi === 0 ? `fd00:2021:1111::${lo.toString(16)}` : `fd00:2021:1111::${hi.toString(16)}:${lo.toString(16)}`;
}

function startOffset(role: DeviceRole, externalId: string): number {
  const h = createHash('sha256').update(`${role}:${externalId}`).digest();
  return h.readUInt32BE(0) % SIZE;
}

export class AddressPoolExhausted extends Error {
  readonly code = 'ADDRESS_POOL_EXHAUSTED';
}

/** The device's record, created on first sight with fresh tunnel IPs, id and PSK base. */
export function ensureDevice(store: Store, rng: Rng, role: DeviceRole, externalId: string): DeviceRecord {
  const existing = store.getDevice(role, externalId);
  if (existing) return existing;
  let offset = startOffset(role, externalId);
  for (let tries = 0; tries < SIZE; tries++, offset = (offset + 1) % SIZE) {
    // Skip the network address (offset 0) and the IPv4 broadcast (the last one).
    if (offset === 0 || offset === SIZE - 1) continue;
    const ipv4 = ipv4At(offset);
    if (store.isIpv4Taken(ipv4)) continue;
    const record: DeviceRecord = { role, externalId, id: randomUuid(rng), ipv4, ipv6: ipv6At(offset), pskBase: randomBytesFrom(rng, 32) };
    if (store.insertDevice(record)) return record;
  }
  throw new AddressPoolExhausted('no free tunnel address left in 100.64.0.0/11');
}
