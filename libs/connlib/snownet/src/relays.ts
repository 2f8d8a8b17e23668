// The portal's relay entries -> RelayInfo. The portal sends one `{type:'turn', id, addr, username, password}`
// entry per address family with the same id (one dual-stack relay); `stun` entries and malformed ones are skipped.
import { parseNetAddr } from './addr';
import type { RelayInfo } from './types';

/** The structural shape of a portal relay entry (`@postern/model` TurnRelay / StunRelay). */
export interface PortalRelay {
  readonly type: string;
  readonly id: string;
  readonly addr: string;
  readonly username?: string;
  readonly password?: string;
}

/** Merges the per-family entries of each relay id into one RelayInfo (the first entry's credentials win). */
export function relayInfosFromPortal(relays: readonly PortalRelay[], realm?: string): RelayInfo[] {
  const byId = new Map<string, { ipv4?: string; ipv6?: string; port: number; username: string; password: string }>();
  for (const r of relays) {
    if (r.type !== 'turn' || r.username === undefined || r.password === undefined) continue;
    const addr = parseNetAddr(r.addr);
    if (addr === undefined) continue;
    const entry = byId.get(r.id) ?? { port: addr.port, username: r.username, password: r.password };
    if (addr.family === 4) entry.ipv4 ??= addr.address;
    else entry.ipv6 ??= addr.address;
    byId.set(r.id, entry);
  }
  return [...byId].map(([id, e]) => ({
    id,
    port: e.port,
    username: e.username,
    password: e.password,
    ...(e.ipv4 === undefined ? {} : { ipv4: e.ipv4 }),
    ...(e.ipv6 === undefined ? {} : { ipv6: e.ipv6 }),
    ...(realm === undefined ? {} : { realm }),
  }));
}
