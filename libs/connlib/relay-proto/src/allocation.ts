// One TURN allocation: relayed port(s), permissions and channel bindings (RFC 8656 §7-§12).
import type { Endpoint } from './types';

export interface Channel {
  readonly number: number;
  readonly peer: Endpoint;
  /** Data flows until this time (ms). */
  expiresAt: number;
  /** After expiry the number and peer stay reserved until this time (ms), then the entry is deleted. */
  reservedUntil: number;
}

export class Allocation {
  /** Peer IP -> permission expiry (ms). */
  readonly permissions = new Map<string, number>();
  readonly channelsByNumber = new Map<number, Channel>();
  readonly channelsByPeer = new Map<string, Channel>();
  /** The last successful ALLOCATE (transaction id hex + response), answered again to a retransmission. */
  lastAllocate: { tid: string; response: Uint8Array } | undefined;

  constructor(
    readonly client: Endpoint,
    readonly username: string,
    readonly usernameExclusive: boolean,
    readonly port: number,
    readonly families: readonly (4 | 6)[],
    public expiresAt: number,
    /** The key that signs responses for this allocation. */
    public key: Uint8Array,
  ) {}

  hasFamily(f: 4 | 6): boolean {
    return this.families.includes(f);
  }

  /** Live permission for this peer IP? */
  hasPermission(ip: string, now: number): boolean {
    const exp = this.permissions.get(ip);
    return exp !== undefined && exp > now;
  }

  /** Removes expired permissions and channels; returns the earliest future deadline (or Infinity). */
  sweep(now: number): number {
    let next = this.expiresAt;
    for (const [ip, exp] of this.permissions) {
      if (exp <= now) this.permissions.delete(ip);
      else if (exp < next) next = exp;
    }
    for (const [num, ch] of this.channelsByNumber) {
      if (ch.reservedUntil <= now) {
        this.channelsByNumber.delete(num);
        if (this.channelsByPeer.get(ch.peer.key) === ch) this.channelsByPeer.delete(ch.peer.key);
      } else {
        const d = ch.expiresAt > now ? ch.expiresAt : ch.reservedUntil;
        if (d < next) next = d;
      }
    }
    return next;
  }

  /** Channels currently carrying data. */
  activeChannels(now: number): number {
    let n = 0;
    for (const ch of this.channelsByNumber.values()) if (ch.expiresAt > now) n++;
    return n;
  }
}
