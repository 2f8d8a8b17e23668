// Relay entries for externally operated TURN servers (`turn_servers` in the config): coturn's TURN REST
// credentials (`--use-auth-secret`) or one static long-term user (`--user`).
import { createHmac } from 'node:crypto';
import { turnSalt, type TurnRelay } from '@postern/model';
import type { TurnServerInfo } from '../config/compile';

/**
 * coturn's TURN REST credentials: username `<expiry unix seconds>:<id>`, password
 * `base64(HMAC-SHA1(secret, username))` (padded), accepted by `turnserver --use-auth-secret --static-auth-secret`
 * until the expiry.
 */
export function turnRestCredentials(secret: string, id: string, expiresAtUnix: number): { username: string; password: string } {
  const username = `${String(expiresAtUnix)}:${id}`;
  return { username, password: createHmac('sha1', secret).update(username).digest('base64') };
}

/** One entry per address of every configured TURN server, with credentials for this device. */
export function turnServerRelays(servers: readonly TurnServerInfo[], devicePublicKey: string, expiresAtUnix: number): TurnRelay[] {
  const out: TurnRelay[] = [];
  for (const t of servers) {
    // The REST id is the device's Firezone TURN salt: stable per device, without the public key itself.
    const creds =
      t.auth.type === 'rest' ? turnRestCredentials(t.auth.secret, turnSalt(devicePublicKey), expiresAtUnix) : { username: t.auth.username, password: t.auth.password };
    for (const addr of t.addresses) out.push({ type: 'turn', id: t.id, addr, ...creds, expires_at: expiresAtUnix });
  }
  return out;
}

/** Ids of servers that went away or changed between two configs (to announce as disconnected), and the new or changed ones. */
export function turnServerChanges(before: readonly TurnServerInfo[], after: readonly TurnServerInfo[]): { gone: string[]; added: TurnServerInfo[] } {
  const key = (t: TurnServerInfo): string => JSON.stringify([t.addresses, t.auth]);
  const old = new Map(before.map((t) => [t.id, key(t)]));
  const now = new Map(after.map((t) => [t.id, key(t)]));
  const gone = before.filter((t) => now.get(t.id) !== key(t)).map((t) => t.id);
  const added = after.filter((t) => old.get(t.id) !== key(t));
  return { gone, added };
}
