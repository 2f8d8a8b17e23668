// The embedded default: one SQLite file (better-sqlite3, synchronous, WAL).
import Database from 'better-sqlite3';
import { z } from 'zod';
import type { DeviceRecord, DeviceRole, IssuedToken, Store } from './store';

const DeviceRow = z.object({
  role: z.enum(['client', 'gateway']),
  external_id: z.string(),
  id: z.string(),
  ipv4: z.string(),
  ipv6: z.string(),
  psk_base: z.instanceof(Buffer),
});
const TokenRow = z.object({ hash: z.string(), email: z.string(), created_at_ms: z.number(), expires_at_ms: z.number() });

export class SqliteStore implements Store {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS devices (
        role TEXT NOT NULL, external_id TEXT NOT NULL, id TEXT NOT NULL UNIQUE,
        ipv4 TEXT NOT NULL UNIQUE, ipv6 TEXT NOT NULL UNIQUE, psk_base BLOB NOT NULL,
        PRIMARY KEY (role, external_id));
      CREATE TABLE IF NOT EXISTS tokens (
        hash TEXT PRIMARY KEY, email TEXT NOT NULL, created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL);
    `);
  }

  getDevice(role: DeviceRole, externalId: string): DeviceRecord | undefined {
    const row: unknown = this.db.prepare('SELECT * FROM devices WHERE role = ? AND external_id = ?').get(role, externalId);
    if (row === undefined) return undefined;
    const r = DeviceRow.parse(row);
    return { role: r.role, externalId: r.external_id, id: r.id, ipv4: r.ipv4, ipv6: r.ipv6, pskBase: new Uint8Array(r.psk_base) };
  }

  insertDevice(record: DeviceRecord): boolean {
    const info = this.db
      .prepare('INSERT OR IGNORE INTO devices (role, external_id, id, ipv4, ipv6, psk_base) VALUES (?, ?, ?, ?, ?, ?)')
      .run(record.role, record.externalId, record.id, record.ipv4, record.ipv6, Buffer.from(record.pskBase));
    return info.changes === 1;
  }

  isIpv4Taken(ipv4: string): boolean {
    return this.db.prepare('SELECT 1 FROM devices WHERE ipv4 = ?').get(ipv4) !== undefined;
  }

  saveToken(token: IssuedToken): void {
    this.db
      .prepare('INSERT OR REPLACE INTO tokens (hash, email, created_at_ms, expires_at_ms) VALUES (?, ?, ?, ?)')
      .run(token.hash, token.email, token.createdAtMs, token.expiresAtMs);
  }

  getToken(hash: string): IssuedToken | undefined {
    const row: unknown = this.db.prepare('SELECT * FROM tokens WHERE hash = ?').get(hash);
    if (row === undefined) return undefined;
    const r = TokenRow.parse(row);
    return { hash: r.hash, email: r.email, createdAtMs: r.created_at_ms, expiresAtMs: r.expires_at_ms };
  }

  deleteToken(hash: string): void {
    this.db.prepare('DELETE FROM tokens WHERE hash = ?').run(hash);
  }

  close(): void {
    this.db.close();
  }
}
