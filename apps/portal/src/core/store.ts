// State that must survive restarts: device records (id, tunnel IPs, PSK base) and issued tokens.
export type DeviceRole = 'client' | 'gateway';

export interface DeviceRecord {
  readonly role: DeviceRole;
  /** `external_id` from the connection (device id). */
  readonly externalId: string;
  /** The id the portal hands out (client_id / gateway_id). */
  readonly id: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** 32 random bytes; input of the preshared-key derivation. */
  readonly pskBase: Uint8Array;
}

export interface IssuedToken {
  /** `sha256:<hex>` of the token; the token itself is never stored. */
  readonly hash: string;
  readonly email: string;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
}

export interface Store {
  getDevice(role: DeviceRole, externalId: string): DeviceRecord | undefined;
  /** Inserts a new device; false if its id or addresses are taken. */
  insertDevice(record: DeviceRecord): boolean;
  isIpv4Taken(ipv4: string): boolean;
  saveToken(token: IssuedToken): void;
  getToken(hash: string): IssuedToken | undefined;
  deleteToken(hash: string): void;
  close(): void;
}

export class MemoryStore implements Store {
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly ipv4s = new Set<string>();
  private readonly tokens = new Map<string, IssuedToken>();

  getDevice(role: DeviceRole, externalId: string): DeviceRecord | undefined {
    return this.devices.get(`${role}\0${externalId}`);
  }
  insertDevice(record: DeviceRecord): boolean {
    const key = `${record.role}\0${record.externalId}`;
    if (this.devices.has(key) || this.ipv4s.has(record.ipv4)) return false;
    this.devices.set(key, record);
    this.ipv4s.add(record.ipv4);
    return true;
  }
  isIpv4Taken(ipv4: string): boolean {
    return this.ipv4s.has(ipv4);
  }
  saveToken(token: IssuedToken): void {
    this.tokens.set(token.hash, token);
  }
  getToken(hash: string): IssuedToken | undefined {
    return this.tokens.get(hash);
  }
  deleteToken(hash: string): void {
    this.tokens.delete(hash);
  }
  close(): void {
    // nothing to release
  }
}
