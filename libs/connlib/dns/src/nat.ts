// The gateway's proxy-IP <-> real-IP NAT core (Firezone `gateway/nat_table.rs`), packet-agnostic.
//
// The client sends to a proxy IP; the gateway rewrites the destination to a real IP of the resolved name.
// Two names may resolve to the same real IP, so a pure L3 mapping could not route replies back to the
// right proxy IP (and so to the right authorisation). The table therefore is symmetric and keyed by the
// L4 "source protocol": inside (protocol, client source port or ICMP echo id, proxy IP) <-> outside
// (protocol, possibly different source port/id, real IP). A new mapping keeps the client's port when the
// outside tuple is free, else takes the next free one. One table per client (the client's tunnel IP is
// implied), as Firezone keeps one per client on the gateway.
import { formatIp, parseIp } from './ip';

export type NatProtocol = 'tcp' | 'udp' | 'icmp';

/** The packet as the client sent it: source port (or ICMP id) and the proxy IP it was addressed to. */
export interface InsideTuple {
  readonly protocol: NatProtocol;
  /** TCP/UDP source port, or ICMP echo identifier. */
  readonly port: number;
  /** The proxy IP (destination of the client's packet). */
  readonly ip: string;
}

/** The packet as it leaves the gateway: source port (or ICMP id) to use and the real destination IP. */
export interface OutsideTuple {
  readonly protocol: NatProtocol;
  readonly port: number;
  /** The real IP (destination outbound, source of replies). */
  readonly ip: string;
}

/** TCP flags the table tracks for early expiry. */
export interface TcpSignals {
  readonly fin?: boolean;
  readonly rst?: boolean;
}

export type TranslateOutboundResult =
  | { readonly kind: 'ok'; readonly outside: OutsideTuple; readonly created: boolean }
  | { readonly kind: 'exhausted' }
  | { readonly kind: 'invalid' };

export type TranslateInboundResult =
  | { readonly kind: 'ok'; readonly inside: InsideTuple }
  | { readonly kind: 'expired' }
  | { readonly kind: 'no-session' };

/** Idle lifetimes, ms (Firezone's values). */
export const NAT_TTL_MS: Readonly<Record<NatProtocol, number>> = {
  tcp: 2 * 60 * 60 * 1000,
  udp: 2 * 60 * 1000,
  icmp: 2 * 60 * 1000,
};
/** A mapping that never saw a reply is dropped after this long. */
export const NAT_UNCONFIRMED_TTL_MS = 60 * 1000;
/** After FIN both ways the mapping lingers this long; after RST it goes at once. */
export const NAT_FIN_LINGER_MS = 5 * 1000;
/** Expired outside tuples are remembered this long so late replies report 'expired' instead of 'no-session'. */
export const NAT_EXPIRED_MEMORY_MS = 10 * 60 * 1000;

interface EntryState {
  readonly inside: InsideTuple;
  readonly outside: OutsideTuple;
  lastOutgoing: number;
  lastIncoming: number | undefined;
  outgoingFin: boolean;
  incomingFin: boolean;
  rst: boolean;
}

function key(protocol: NatProtocol, port: number, ip: string): string {
  return `${protocol}|${port}|${ip}`;
}

function validPort(p: NatProtocol, port: number): boolean {
  return Number.isInteger(port) && port >= (p === 'icmp' ? 0 : 1) && port <= 0xffff;
}

function canonical(ip: string): string | undefined {
  const p = parseIp(ip);
  return p ? formatIp(p) : undefined;
}

export class NatTable {
  private readonly byInside = new Map<string, EntryState>();
  private readonly byOutside = new Map<string, EntryState>();
  private readonly expired = new Map<string, number>();
  /** A lower bound of the earliest removal time (exact right after `handleTimeout`); keeps `pollTimeout` O(1). */
  private dueHint = Infinity;

  get size(): number {
    return this.byInside.size;
  }

  /**
   * Maps a client packet to its outside tuple, creating the mapping if needed. `realIp` is the real address
   * the proxy IP stands for (from `mapProxyIps`); it is only used when a new mapping is created.
   */
  translateOutbound(inside: InsideTuple, realIp: string, now: number, tcp: TcpSignals = {}): TranslateOutboundResult {
    const proxy = canonical(inside.ip);
    const real = canonical(realIp);
    if (proxy === undefined || real === undefined || !validPort(inside.protocol, inside.port)) return { kind: 'invalid' };
    if (proxy.includes(':') !== real.includes(':')) return { kind: 'invalid' }; // no NAT64
    const ik = key(inside.protocol, inside.port, proxy);
    const existing = this.byInside.get(ik);
    if (existing) {
      existing.lastOutgoing = now;
      if (tcp.fin === true) existing.outgoingFin = true;
      if (tcp.rst === true) existing.rst = true;
      this.noteDue(existing);
      return { kind: 'ok', outside: existing.outside, created: false };
    }
    const port = this.freePort(inside.protocol, inside.port, real);
    if (port === undefined) return { kind: 'exhausted' };
    const state: EntryState = {
      inside: { protocol: inside.protocol, port: inside.port, ip: proxy },
      outside: { protocol: inside.protocol, port, ip: real },
      lastOutgoing: now,
      lastIncoming: undefined,
      outgoingFin: tcp.fin === true,
      incomingFin: false,
      rst: tcp.rst === true,
    };
    const ok = key(inside.protocol, port, real);
    this.byInside.set(ik, state);
    this.byOutside.set(ok, state);
    this.expired.delete(ok);
    this.noteDue(state);
    return { kind: 'ok', outside: state.outside, created: true };
  }

  /** Maps a reply (its source = real IP, its destination port/ICMP id = outside port) back to the inside tuple. */
  translateInbound(outside: OutsideTuple, now: number, tcp: TcpSignals = {}): TranslateInboundResult {
    const real = canonical(outside.ip);
    if (real === undefined) return { kind: 'no-session' };
    const ok = key(outside.protocol, outside.port, real);
    const state = this.byOutside.get(ok);
    if (!state) return this.expired.has(ok) ? { kind: 'expired' } : { kind: 'no-session' };
    state.lastIncoming = now;
    if (tcp.fin === true) state.incomingFin = true;
    if (tcp.rst === true) state.rst = true;
    this.noteDue(state);
    return { kind: 'ok', inside: state.inside };
  }

  /** Removes mappings whose time has come. O(mappings); call it when `pollTimeout` is due. */
  handleTimeout(now: number): void {
    let due = Infinity;
    for (const [ik, state] of this.byInside) {
      const at = removeAt(state);
      if (now < at) {
        due = Math.min(due, at);
        continue;
      }
      const ok = key(state.outside.protocol, state.outside.port, state.outside.ip);
      this.byInside.delete(ik);
      this.byOutside.delete(ok);
      this.expired.delete(ok);
      this.expired.set(ok, now);
    }
    this.dueHint = due;
    // Insertion order is expiry order: stop at the first one still remembered.
    for (const [ok, at] of this.expired) {
      if (now - at < NAT_EXPIRED_MEMORY_MS) break;
      this.expired.delete(ok);
    }
  }

  /**
   * When `handleTimeout` may have work to do (never later than the earliest removal; O(1)), or undefined
   * when the table is empty. The memory of expired tuples is pruned on the way, it needs no wake-up.
   */
  pollTimeout(): number | undefined {
    return this.byInside.size === 0 || this.dueHint === Infinity ? undefined : this.dueHint;
  }

  /** Drops every mapping whose inside IP is one of `proxyIps` (the client lost access to that name). */
  removeProxyIps(proxyIps: Iterable<string>, now: number): void {
    const set = new Set<string>();
    for (const ip of proxyIps) {
      const c = canonical(ip);
      if (c !== undefined) set.add(c);
    }
    for (const [ik, state] of this.byInside) {
      if (!set.has(state.inside.ip)) continue;
      const ok = key(state.outside.protocol, state.outside.port, state.outside.ip);
      this.byInside.delete(ik);
      this.byOutside.delete(ok);
      this.expired.delete(ok);
      this.expired.set(ok, now);
    }
  }

  /** A snapshot of all live mappings (tests, diagnostics). */
  entries(): { inside: InsideTuple; outside: OutsideTuple }[] {
    return [...this.byInside.values()].map((s) => ({ inside: s.inside, outside: s.outside }));
  }

  /** Size of the outside index, for invariant checks (always equals `size`). */
  get outsideSize(): number {
    return this.byOutside.size;
  }

  private noteDue(state: EntryState): void {
    this.dueHint = Math.min(this.dueHint, removeAt(state));
  }

  private freePort(protocol: NatProtocol, wanted: number, real: string): number | undefined {
    const min = protocol === 'icmp' ? 0 : 1;
    const span = 0x10000 - min;
    for (let i = 0; i < span; i++) {
      const port = min + ((wanted - min + i) % span);
      if (!this.byOutside.has(key(protocol, port, real))) return port;
    }
    return undefined;
  }
}

function removeAt(s: EntryState): number {
  const last = s.lastIncoming === undefined ? s.lastOutgoing : Math.max(s.lastOutgoing, s.lastIncoming);
  let at = last + NAT_TTL_MS[s.inside.protocol];
  if (s.lastIncoming === undefined) at = Math.min(at, s.lastOutgoing + NAT_UNCONFIRMED_TTL_MS);
  if (s.outgoingFin && s.incomingFin) at = Math.min(at, last + NAT_FIN_LINGER_MS);
  if (s.rst) at = Math.min(at, last);
  return at;
}

/**
 * Pairs each proxy IP with a real IP of the same family, cycling through the real ones (proxy i -> real
 * i mod n). Proxy IPs of a family without real IPs stay unmapped (no NAT64). Result keys/values canonical.
 */
export function mapProxyIps(proxyIps: readonly string[], realIps: readonly string[]): Map<string, string> {
  const real4: string[] = [];
  const real6: string[] = [];
  for (const r of realIps) {
    const c = canonical(r);
    if (c === undefined) continue;
    (c.includes(':') ? real6 : real4).push(c);
  }
  const out = new Map<string, string>();
  let i4 = 0;
  let i6 = 0;
  for (const p of proxyIps) {
    const c = canonical(p);
    if (c === undefined) continue;
    const v6 = c.includes(':');
    const pool = v6 ? real6 : real4;
    if (pool.length === 0) continue;
    const real = pool[(v6 ? i6++ : i4++) % pool.length];
    if (real !== undefined) out.set(c, real);
  }
  return out;
}
