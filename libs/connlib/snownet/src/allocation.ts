// A TURN client allocation on one relay (Firezone snownet `Allocation`), sans-IO: BINDING first (server-reflexive
// candidate), ALLOCATE with long-term credentials (RFC 8656: the first request goes without credentials, its 401
// brings the server's REALM and NONCE; 438 retried with the new nonce; dual-stack through
// ADDITIONAL-ADDRESS-FAMILY), REFRESH at half the lifetime, CREATE-PERMISSION and CHANNEL-BIND per peer with
// their refreshes, keepalive BINDINGs, REFRESH lifetime 0 on close. Datagrams from the relay come in through
// `handleInput`; requests and ChannelData go out through `pollTransmit`/`wrap`.
import {
  CHANNEL_DATA_HEADER_LENGTH,
  FIRST_CHANNEL,
  LAST_CHANNEL,
  Method,
  channelDataPayloadLength,
  channelNumberOf,
  classifyPacket,
  decodeMessage,
  encodeMessage,
  getAttribute,
  longTermKey,
  transactionIdKey,
  verifyIntegrity,
  writeChannelDataHeader,
  type Attribute,
  type DecodedMessage,
} from '@postern/stun';
import { ViewCache } from '@postern/bufferpool';
import { netAddr, type NetAddr } from './addr';
import type { RelayInfo, Rng } from './types';

/** Retransmissions (Firezone backoff): first after 1 s, x1.5 each, given up once 8 s have passed. */
export const REQUEST_INITIAL_RTO_MS = 1_000;
export const REQUEST_MAX_ELAPSED_MS = 8_000;
/** A BINDING to the relay every 25 s keeps the NAT binding open and proves the relay is alive. */
export const KEEPALIVE_INTERVAL_MS = 25_000;
export const PERMISSION_REFRESH_MS = 4 * 60_000;
export const CHANNEL_REFRESH_MS = 9 * 60_000;
export const CHANNEL_LIFETIME_MS = 10 * 60_000;
/** After a channel expires its number (and peer) stay reserved on the server this long. */
export const CHANNEL_REBIND_TIMEOUT_MS = 5 * 60_000;
const MAX_STALE_NONCE_RETRIES = 3;

export type AllocationState = 'binding' | 'allocating' | 'allocated' | 'failed' | 'closed';
export type AllocationFailure = 'unauthorized' | 'noResponse' | 'serverError' | 'allocationMismatch';

export type AllocationEvent =
  | { readonly type: 'newCandidate'; readonly kind: 'srflx' | 'relay'; readonly addr: NetAddr; readonly base: NetAddr }
  | { readonly type: 'invalidatedCandidate'; readonly kind: 'srflx' | 'relay'; readonly addr: NetAddr; readonly base: NetAddr }
  | { readonly type: 'failed'; readonly reason: AllocationFailure };

export interface AllocationTransmit {
  readonly dst: NetAddr;
  readonly payload: Uint8Array;
}

type RequestContext =
  | { readonly kind: 'binding'; readonly keepalive: boolean }
  | { readonly kind: 'allocate' }
  | { readonly kind: 'refresh'; readonly lifetime: number | undefined }
  /** 437 to ALLOCATE: an old allocation of ours holds this 5-tuple; delete it, then allocate again. */
  | { readonly kind: 'deallocate' }
  | { readonly kind: 'permission'; readonly ip: string }
  | { readonly kind: 'channel'; readonly channel: Channel };

interface Pending {
  readonly tid: Uint8Array;
  readonly method: number;
  readonly attributes: readonly Attribute[];
  readonly dst: NetAddr;
  readonly ctx: RequestContext;
  /** Sent with credentials and a NONCE (a 401 answer then means the credentials are wrong). */
  authenticated: boolean;
  /** Already resent without credentials after a 400 to an authenticated request. */
  retriedUnauthenticated: boolean;
  firstSentAt: number;
  lastSentAt: number;
  nextAt: number;
  rto: number;
}

interface Channel {
  readonly peer: NetAddr;
  readonly number: number;
  /** CHANNEL-BIND sent, no answer yet (data may already flow: the server processes in order). */
  state: 'buffered' | 'inflight' | 'bound';
  /** A refreshing CHANNEL-BIND of a bound channel is in flight. */
  refreshing: boolean;
  boundAt: number;
  lastUsedAt: number;
}

interface Permission {
  createdAt: number;
  inflight: boolean;
  lastUsedAt: number;
}

/** Reused result of `handleInput` (read it before the next call). */
export type AllocationInput =
  /** Not from this relay. */
  | { kind: 'notOurs' }
  /** A STUN message for the allocation (answer, or junk from the relay's address), consumed. */
  | { kind: 'handled' }
  /** Relayed data from `peer`: `payload` is a view of the datagram. */
  | { kind: 'data'; peer: NetAddr; payload: Uint8Array };

export class Allocation {
  readonly relayId: string;
  state: AllocationState = 'binding';
  failure: AllocationFailure | undefined;
  /** When it failed (`now` of the last input), for a later retry. */
  failedAt = Infinity;
  private lastNow = 0;
  /** The server address in use (the first one that answered a BINDING). */
  server: NetAddr | undefined;
  readonly servers: readonly NetAddr[];
  private info: RelayInfo;
  private key: Uint8Array;
  /** `RelayInfo.realm` (Firezone: `firezone`) until a 401 tells the server's. */
  private realm: string;
  private nonce: string | undefined;
  private staleNonceRetries = 0;
  private deallocated = false;
  private readonly mapped = new Map<4 | 6, NetAddr>();
  private relayed: NetAddr[] = [];
  private expiresAt = Infinity;
  private refreshAt = Infinity;
  private lastSentAt: number;
  private readonly pending = new Map<string, Pending>();
  private readonly channelsByPeer = new Map<string, Channel>();
  private readonly channelsByNumber = new Map<number, Channel>();
  /** Channel numbers whose binding expired, reserved until the given time. */
  private readonly cooling = new Map<number, { peer: string; until: number }>();
  private readonly permissions = new Map<string, Permission>();
  private nextChannel = FIRST_CHANNEL;
  private readonly transmits: AllocationTransmit[] = [];
  private readonly events: AllocationEvent[] = [];
  private readonly input: { kind: 'data'; peer: NetAddr; payload: Uint8Array };
  /** Relayed payload bytes through this allocation (both ways). */
  relayedTxBytes = 0;
  relayedRxBytes = 0;
  /** Smoothed round-trip time of answered requests (ms), 7/8 old + 1/8 sample. */
  rtt: number | undefined;

  constructor(
    info: RelayInfo,
    private readonly bases: ReadonlyMap<4 | 6, NetAddr>,
    private readonly rng: Rng,
    now: number,
    /**
     * Where relayed payloads' views come from: the payload of a ChannelData datagram is the child of the
     * datagram's view (`ViewCache.within`), so a datagram view that is itself reused (a receive-ring slot) gives
     * the same payload view every time instead of a fresh `subarray` per datagram (and with it the decrypted
     * packet's view and the AEAD's per-view state, which hang off the payload view). The Node passes its own.
     */
    private readonly views: ViewCache = new ViewCache(2),
  ) {
    this.relayId = info.id;
    this.info = info;
    this.realm = info.realm ?? 'firezone';
    this.key = longTermKey(info.username, this.realm, info.password);
    const servers: NetAddr[] = [];
    for (const ip of [info.ipv4, info.ipv6]) {
      const a = ip === undefined ? undefined : netAddr(ip, info.port);
      if (a !== undefined) servers.push(a);
    }
    this.servers = servers;
    this.lastSentAt = now;
    this.lastNow = now;
    this.input = { kind: 'data', peer: servers[0] ?? { family: 4, address: '0.0.0.0', port: 0, key: '0.0.0.0:0' }, payload: new Uint8Array(0) };
    this.start(now);
  }

  /** BINDING to every server address of a family we have a socket for (all of them if we know none). */
  private start(now: number): void {
    this.state = 'binding';
    const usable = this.servers.filter((s) => this.bases.size === 0 || this.bases.has(s.family));
    if (usable.length === 0) {
      this.fail('noResponse');
      return;
    }
    for (const s of usable) this.request(Method.Binding, [], s, { kind: 'binding', keepalive: false }, now);
  }

  isServer(addr: NetAddr): boolean {
    for (const s of this.servers) if (s.key === addr.key) return true;
    return false;
  }

  /** Same relay, new credentials (the portal re-sent it): used from the next request on. */
  updateCredentials(info: RelayInfo): void {
    if (info.username === this.info.username && info.password === this.info.password) return;
    this.info = info;
    this.key = longTermKey(info.username, this.realm, info.password);
    this.nonce = undefined;
  }

  /** Our relayed addresses (one per family allocated). */
  relayedAddresses(): readonly NetAddr[] {
    return this.relayed;
  }

  /** Server-reflexive addresses the relay saw us at. */
  mappedAddresses(): NetAddr[] {
    return [...this.mapped.values()];
  }

  hasRelayedFamily(family: 4 | 6): boolean {
    return this.relayed.some((r) => r.family === family);
  }

  // ------------------------------------------------------------------------------------ data path

  /**
   * The channel to `peer`, binding one if needed (buffered until the allocation exists). Returns the channel
   * number while it is bound or its CHANNEL-BIND is in flight; undefined when no relayed address of the
   * peer's family exists (yet) or the channel space is exhausted.
   */
  channelTo(peer: NetAddr, now: number): number | undefined {
    let ch = this.channelsByPeer.get(peer.key);
    if (ch === undefined) {
      if (this.state === 'failed' || this.state === 'closed') return undefined;
      if (this.state === 'allocated' && !this.hasRelayedFamily(peer.family)) return undefined;
      const number = this.freeChannel(peer.key, now);
      if (number === undefined) return undefined;
      ch = { peer, number, state: 'buffered', refreshing: false, boundAt: now, lastUsedAt: now };
      this.channelsByPeer.set(peer.key, ch);
      this.channelsByNumber.set(number, ch);
      if (this.state === 'allocated') this.sendChannelBind(ch, now);
    }
    if (ch.state === 'buffered') return undefined;
    ch.lastUsedAt = now;
    return ch.number;
  }

  /**
   * Frames `len` bytes already at `buf[offset + 4 ..]` as ChannelData to `peer` in place (header at `offset`).
   * Returns false (nothing written) when no channel can carry it yet.
   */
  frame(peer: NetAddr, buf: Uint8Array, offset: number, len: number, now: number): boolean {
    const server = this.server;
    if (server === undefined) return false;
    const ch = this.channelTo(peer, now);
    if (ch === undefined) return false;
    writeChannelDataHeader(buf, offset, ch, len);
    this.relayedTxBytes += len;
    this.lastSentAt = now;
    return true;
  }

  /** An owned ChannelData datagram carrying `payload` to `peer` (STUN checks, queued WireGuard). */
  wrap(peer: NetAddr, payload: Uint8Array, now: number): AllocationTransmit | undefined {
    const server = this.server;
    if (server === undefined) return undefined;
    const out = new Uint8Array(CHANNEL_DATA_HEADER_LENGTH + payload.length);
    out.set(payload, CHANNEL_DATA_HEADER_LENGTH);
    if (!this.frame(peer, out, 0, payload.length, now)) return undefined;
    return { dst: server, payload: out };
  }

  /** Asks for permissions for peers' IPs ahead of traffic (their checks to our relayed address need them). */
  permit(peer: NetAddr, now: number): void {
    if (this.state === 'failed' || this.state === 'closed') return;
    const ip = ipKey(peer);
    let p = this.permissions.get(ip);
    if (p === undefined) {
      p = { createdAt: now, inflight: false, lastUsedAt: now };
      this.permissions.set(ip, p);
      if (this.state === 'allocated' && this.hasRelayedFamily(peer.family)) this.sendPermission(ip, peer, now);
    }
    p.lastUsedAt = now;
  }

  /**
   * A datagram from `from`. From one of this relay's addresses: STUN answers are consumed, ChannelData and
   * DATA indications come back as `data` from the peer (a view, no copy).
   */
  handleInput(from: NetAddr, datagram: Uint8Array, now: number): AllocationInput {
    if (!this.isServer(from)) return NOT_OURS;
    this.lastNow = now;
    const kind = classifyPacket(datagram);
    if (kind === 'channel-data') {
      const len = channelDataPayloadLength(datagram);
      const ch = len < 0 ? undefined : this.channelsByNumber.get(channelNumberOf(datagram));
      if (ch === undefined || ch.state === 'buffered') return HANDLED;
      ch.lastUsedAt = now;
      this.relayedRxBytes += len;
      const r = this.input;
      r.peer = ch.peer;
      r.payload = this.views.within(datagram, CHANNEL_DATA_HEADER_LENGTH, len);
      return r;
    }
    if (kind !== 'stun') return HANDLED;
    const d = decodeMessage(datagram);
    if (!d.ok) return HANDLED;
    const msg = d.message;
    if (msg.cls === 'indication') return this.dataIndication(msg);
    if (msg.cls === 'success' || msg.cls === 'error') this.response(msg, from, now);
    return HANDLED;
  }

  private dataIndication(msg: DecodedMessage): AllocationInput {
    if (msg.method !== Method.Data) return HANDLED;
    const peer = getAttribute(msg, 'XOR-PEER-ADDRESS')?.address;
    const data = getAttribute(msg, 'DATA')?.data;
    const addr = peer === undefined ? undefined : netAddr(peer.address, peer.port);
    if (addr === undefined || data === undefined) return HANDLED;
    this.relayedRxBytes += data.length;
    const r = this.input;
    r.peer = addr;
    r.payload = data;
    return r;
  }

  // ------------------------------------------------------------------------------------ responses

  private response(msg: DecodedMessage, from: NetAddr, now: number): void {
    const key = transactionIdKey(msg.transactionId);
    const p = this.pending.get(key);
    if (p === undefined || p.dst.key !== from.key) return;
    // Authenticated requests get authenticated answers (challenges, 401/438, may carry none).
    if (p.authenticated) {
      const check = verifyIntegrity(msg, this.key);
      if (check === 'mismatch' || (check === 'missing' && msg.cls === 'success')) return;
    }
    this.pending.delete(key);
    const sample = now - p.lastSentAt;
    this.rtt = this.rtt === undefined ? sample : (this.rtt * 7) / 8 + sample / 8;
    if (msg.cls === 'error') {
      this.errorResponse(p, msg, now);
      return;
    }
    this.staleNonceRetries = 0;
    switch (p.ctx.kind) {
      case 'binding':
        this.bindingSuccess(msg, from, now);
        break;
      case 'allocate':
        this.allocateSuccess(msg, now);
        break;
      case 'deallocate':
        this.sendAllocate(now);
        break;
      case 'refresh': {
        const lifetime = getAttribute(msg, 'LIFETIME')?.seconds ?? p.ctx.lifetime ?? 600;
        this.setLifetime(lifetime, now);
        break;
      }
      case 'permission': {
        const perm = this.permissions.get(p.ctx.ip);
        if (perm !== undefined) {
          perm.inflight = false;
          perm.createdAt = now;
        }
        break;
      }
      case 'channel': {
        const ch = p.ctx.channel;
        if (this.channelsByNumber.get(ch.number) === ch) {
          ch.state = 'bound';
          ch.refreshing = false;
          ch.boundAt = now;
        }
        break;
      }
    }
  }

  private bindingSuccess(msg: DecodedMessage, from: NetAddr, now: number): void {
    const m = getAttribute(msg, 'XOR-MAPPED-ADDRESS')?.address;
    const mapped = m === undefined ? undefined : netAddr(m.address, m.port);
    if (mapped !== undefined) {
      const old = this.mapped.get(mapped.family);
      if (old?.key !== mapped.key) {
        const base = this.bases.get(mapped.family) ?? mapped;
        if (old !== undefined) this.events.push({ type: 'invalidatedCandidate', kind: 'srflx', addr: old, base });
        this.mapped.set(mapped.family, mapped);
        this.events.push({ type: 'newCandidate', kind: 'srflx', addr: mapped, base });
      }
    }
    if (this.state === 'binding') {
      this.server = from;
      this.state = 'allocating';
      this.sendAllocate(now);
    }
  }

  private allocateSuccess(msg: DecodedMessage, now: number): void {
    const relayed: NetAddr[] = [];
    for (const a of msg.attributes) {
      if (a.name !== 'XOR-RELAYED-ADDRESS') continue;
      const r = netAddr(a.address.address, a.address.port);
      if (r !== undefined) relayed.push(r);
    }
    if (relayed.length === 0) {
      this.fail('serverError');
      return;
    }
    this.state = 'allocated';
    this.relayed = relayed;
    const lifetime = getAttribute(msg, 'LIFETIME')?.seconds ?? 600;
    this.setLifetime(lifetime, now);
    for (const r of relayed) this.events.push({ type: 'newCandidate', kind: 'relay', addr: r, base: this.mapped.get(r.family) ?? this.server ?? r });
    // Buffered work: channels and permissions asked for before the allocation existed.
    for (const ip of [...this.permissions.keys()]) {
      const peer = permissionPeer(ip);
      if (peer !== undefined && this.hasRelayedFamily(peer.family)) this.sendPermission(ip, peer, now);
      else this.permissions.delete(ip);
    }
    // (after the permissions: a CHANNEL-BIND installs its peer's permission itself)
    for (const ch of this.channelsByPeer.values()) {
      if (ch.state !== 'buffered') continue;
      if (this.hasRelayedFamily(ch.peer.family)) this.sendChannelBind(ch, now);
      else this.dropChannel(ch);
    }
  }

  private errorResponse(p: Pending, msg: DecodedMessage, now: number): void {
    const code = getAttribute(msg, 'ERROR-CODE')?.code ?? 0;
    const nonce = getAttribute(msg, 'NONCE')?.value;
    if ((code === 401 && !p.authenticated) || (code === 438 && this.staleNonceRetries < MAX_STALE_NONCE_RETRIES)) {
      if (nonce !== undefined) {
        if (code === 438) this.staleNonceRetries++;
        this.nonce = nonce;
        const realm = getAttribute(msg, 'REALM')?.value;
        if (realm !== undefined && realm !== this.realm) {
          this.realm = realm;
          this.key = longTermKey(this.info.username, realm, this.info.password);
        }
        this.request(p.method, p.attributes, p.dst, p.ctx, now, p.retriedUnauthenticated);
        return;
      }
    }
    // A server that rejects our credentials as malformed (400): once more without them, its 401 tells what it wants.
    if (code === 400 && p.ctx.kind === 'allocate' && p.authenticated && !p.retriedUnauthenticated) {
      this.nonce = undefined;
      this.request(p.method, p.attributes, p.dst, p.ctx, now, true);
      return;
    }
    switch (p.ctx.kind) {
      case 'channel': {
        const ch = p.ctx.channel;
        if (this.channelsByNumber.get(ch.number) === ch) this.dropChannel(ch);
        if (code === 437) this.reallocate(now);
        return;
      }
      case 'permission':
        this.permissions.delete(p.ctx.ip);
        if (code === 437) this.reallocate(now);
        return;
      case 'binding':
        return;
      case 'refresh':
        if (code === 437) this.reallocate(now);
        else this.fail(code === 401 ? 'unauthorized' : 'serverError');
        return;
      case 'allocate':
        if (code === 437 && !this.deallocated) {
          this.deallocated = true;
          this.request(Method.Refresh, [{ name: 'LIFETIME', seconds: 0 }], p.dst, { kind: 'deallocate' }, now);
          return;
        }
        this.fail(code === 401 || code === 438 ? 'unauthorized' : code === 437 ? 'allocationMismatch' : 'serverError');
        return;
      case 'deallocate':
        this.fail(code === 401 ? 'unauthorized' : 'allocationMismatch');
        return;
    }
  }

  // ------------------------------------------------------------------------------------ time

  handleTimeout(now: number): void {
    this.lastNow = now;
    if (this.state === 'failed' || this.state === 'closed') return;
    for (const [key, p] of this.pending) {
      if (now < p.nextAt) continue;
      if (now - p.firstSentAt >= REQUEST_MAX_ELAPSED_MS) {
        this.pending.delete(key);
        this.timedOut(p);
        if ((this.state as AllocationState) === 'failed') return;
        continue;
      }
      p.rto *= 1.5;
      p.nextAt = now + p.rto;
      this.send(p, now);
    }
    if (this.state !== 'allocated') return;
    if (now >= this.expiresAt) {
      this.invalidateRelayed();
      this.fail('noResponse');
      return;
    }
    if (now >= this.refreshAt) {
      this.refreshAt = Infinity;
      this.request(Method.Refresh, [], this.serverOrFirst(), { kind: 'refresh', lifetime: undefined }, now);
    }
    if (now - this.lastSentAt >= KEEPALIVE_INTERVAL_MS && !this.hasPendingBinding()) {
      this.request(Method.Binding, [], this.serverOrFirst(), { kind: 'binding', keepalive: true }, now);
    }
    for (const ch of [...this.channelsByPeer.values()]) {
      if (ch.state !== 'bound') continue;
      const age = now - ch.boundAt;
      if (age >= CHANNEL_LIFETIME_MS) {
        this.dropChannel(ch);
      } else if (age >= CHANNEL_REFRESH_MS && ch.lastUsedAt > ch.boundAt && !ch.refreshing) {
        this.sendChannelBind(ch, now);
      }
    }
    for (const [ip, perm] of this.permissions) {
      if (perm.inflight || now - perm.createdAt < PERMISSION_REFRESH_MS) continue;
      const peer = permissionPeer(ip);
      const used = Math.max(perm.lastUsedAt, this.channelUse(ip));
      if (peer === undefined || now - used > PERMISSION_REFRESH_MS + 60_000) this.permissions.delete(ip);
      else this.sendPermission(ip, peer, now);
    }
  }

  /** When a channel to a peer at `ip` (a permission key) last carried data. */
  private channelUse(ip: string): number {
    let last = Number.NEGATIVE_INFINITY;
    for (const ch of this.channelsByPeer.values()) if (ipKey(ch.peer) === ip) last = Math.max(last, ch.lastUsedAt);
    return last;
  }

  pollTimeout(): number | undefined {
    if (this.state === 'failed' || this.state === 'closed') return undefined;
    let t = Infinity;
    for (const p of this.pending.values()) t = Math.min(t, p.nextAt);
    if (this.state === 'allocated') {
      t = Math.min(t, this.refreshAt, this.expiresAt, this.lastSentAt + KEEPALIVE_INTERVAL_MS);
      for (const ch of this.channelsByPeer.values()) if (ch.state === 'bound') t = Math.min(t, ch.boundAt + (ch.lastUsedAt > ch.boundAt ? CHANNEL_REFRESH_MS : CHANNEL_LIFETIME_MS));
      for (const perm of this.permissions.values()) if (!perm.inflight) t = Math.min(t, perm.createdAt + PERMISSION_REFRESH_MS);
    }
    return t === Infinity ? undefined : t;
  }

  private timedOut(p: Pending): void {
    switch (p.ctx.kind) {
      case 'binding':
        // The first BINDINGs (one per server address) or a keepalive: no answer means the relay is gone.
        if (p.ctx.keepalive || (this.state === 'binding' && !this.hasPendingBinding())) {
          this.invalidateRelayed();
          this.fail('noResponse');
        }
        return;
      case 'channel': {
        const ch = p.ctx.channel;
        if (this.channelsByNumber.get(ch.number) === ch) this.dropChannel(ch);
        return;
      }
      case 'permission':
        this.permissions.delete(p.ctx.ip);
        return;
      case 'allocate':
      case 'refresh':
      case 'deallocate':
        this.invalidateRelayed();
        this.fail('noResponse');
        return;
    }
  }

  // ------------------------------------------------------------------------------------ outputs

  pollTransmit(): AllocationTransmit | undefined {
    return this.transmits.shift();
  }

  pollEvent(): AllocationEvent | undefined {
    return this.events.shift();
  }

  /** Deallocates (REFRESH lifetime 0, sent once) and invalidates our candidates. */
  close(now: number): void {
    if (this.state === 'closed') return;
    const wasAllocated = this.state === 'allocated';
    if (wasAllocated) this.invalidateRelayed();
    for (const [fam, addr] of this.mapped) this.events.push({ type: 'invalidatedCandidate', kind: 'srflx', addr, base: this.bases.get(fam) ?? addr });
    this.mapped.clear();
    this.pending.clear();
    if (wasAllocated && this.server !== undefined) {
      const tid = new Uint8Array(12);
      this.rng.fill(tid);
      const attrs: Attribute[] = [{ name: 'LIFETIME', seconds: 0 }];
      this.transmits.push({ dst: this.server, payload: this.encode(Method.Refresh, tid, attrs) });
      this.lastSentAt = now;
    }
    this.state = 'closed';
  }

  // ------------------------------------------------------------------------------------ internals

  private serverOrFirst(): NetAddr {
    const s = this.server ?? this.servers[0];
    if (s === undefined) throw new Error('allocation without a server address'); // the constructor guarantees one
    return s;
  }

  private hasPendingBinding(): boolean {
    for (const p of this.pending.values()) if (p.ctx.kind === 'binding') return true;
    return false;
  }

  private sendAllocate(now: number): void {
    const attrs: Attribute[] = [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }];
    const want4 = this.servers.some((s) => s.family === 4) && (this.bases.size === 0 || this.bases.has(4));
    const want6 = this.servers.some((s) => s.family === 6) && this.bases.has(6);
    if (want4 && want6) attrs.push({ name: 'ADDITIONAL-ADDRESS-FAMILY', family: 6 });
    else if (want6) attrs.push({ name: 'REQUESTED-ADDRESS-FAMILY', family: 6 });
    this.request(Method.Allocate, attrs, this.serverOrFirst(), { kind: 'allocate' }, now);
  }

  private sendChannelBind(ch: Channel, now: number): void {
    if (ch.state === 'bound') ch.refreshing = true;
    else ch.state = 'inflight';
    const attrs: Attribute[] = [
      { name: 'CHANNEL-NUMBER', channel: ch.number },
      { name: 'XOR-PEER-ADDRESS', address: ch.peer },
    ];
    this.request(Method.ChannelBind, attrs, this.serverOrFirst(), { kind: 'channel', channel: ch }, now);
    // The binding installs (or refreshes) the permission for the peer's IP; keep it refreshed from then on.
    const ip = ipKey(ch.peer);
    const perm = this.permissions.get(ip);
    if (perm === undefined) this.permissions.set(ip, { createdAt: now, inflight: false, lastUsedAt: now });
    else if (!perm.inflight) perm.createdAt = now;
  }

  private sendPermission(ip: string, peer: NetAddr, now: number): void {
    const perm = this.permissions.get(ip);
    if (perm !== undefined) perm.inflight = true;
    this.request(Method.CreatePermission, [{ name: 'XOR-PEER-ADDRESS', address: peer }], this.serverOrFirst(), { kind: 'permission', ip }, now);
  }

  /** Forgets a channel; a number the server may still hold for the peer stays reserved for that peer. */
  private dropChannel(ch: Channel): void {
    this.channelsByPeer.delete(ch.peer.key);
    this.channelsByNumber.delete(ch.number);
    if (ch.state === 'bound') this.cooling.set(ch.number, { peer: ch.peer.key, until: ch.boundAt + CHANNEL_LIFETIME_MS + CHANNEL_REBIND_TIMEOUT_MS });
  }

  /** A free channel number: the peer's old one while it cools down, else the next unused, else an expired one. */
  private freeChannel(peerKey: string, now: number): number | undefined {
    for (const [n, c] of this.cooling) {
      if (c.until <= now) this.cooling.delete(n);
      else if (c.peer === peerKey) {
        this.cooling.delete(n);
        return n;
      }
    }
    const span = LAST_CHANNEL - FIRST_CHANNEL + 1;
    for (let i = 0; i < span; i++) {
      const n = FIRST_CHANNEL + ((this.nextChannel - FIRST_CHANNEL + i) % span);
      if (this.channelsByNumber.has(n) || this.cooling.has(n)) continue;
      this.nextChannel = n === LAST_CHANNEL ? FIRST_CHANNEL : n + 1;
      return n;
    }
    return undefined;
  }

  private setLifetime(seconds: number, now: number): void {
    if (seconds <= 0) return;
    this.expiresAt = now + seconds * 1000;
    this.refreshAt = now + (seconds * 1000) / 2;
  }

  /** 437: the server lost our allocation; drop everything relayed and ALLOCATE again. */
  private reallocate(now: number): void {
    if (this.state !== 'allocated') return;
    this.invalidateRelayed();
    for (const ch of this.channelsByPeer.values()) {
      ch.state = 'buffered';
      ch.refreshing = false;
    }
    for (const perm of this.permissions.values()) perm.inflight = false;
    for (const [key, p] of this.pending) if (p.ctx.kind !== 'binding') this.pending.delete(key);
    this.state = 'allocating';
    this.sendAllocate(now);
  }

  private invalidateRelayed(): void {
    for (const r of this.relayed) this.events.push({ type: 'invalidatedCandidate', kind: 'relay', addr: r, base: this.mapped.get(r.family) ?? this.server ?? r });
    this.relayed = [];
    this.expiresAt = Infinity;
    this.refreshAt = Infinity;
  }

  private fail(reason: AllocationFailure): void {
    if (this.state === 'failed' || this.state === 'closed') return;
    if (this.state === 'allocated') this.invalidateRelayed();
    this.state = 'failed';
    this.failure = reason;
    this.failedAt = this.lastNow;
    this.pending.clear();
    this.channelsByPeer.clear();
    this.channelsByNumber.clear();
    this.permissions.clear();
    this.events.push({ type: 'failed', reason });
  }

  private request(method: number, attributes: readonly Attribute[], dst: NetAddr, ctx: RequestContext, now: number, retriedUnauthenticated = false): void {
    const tid = new Uint8Array(12);
    this.rng.fill(tid);
    const p: Pending = {
      tid,
      method,
      attributes,
      dst,
      ctx,
      authenticated: false,
      retriedUnauthenticated,
      firstSentAt: now,
      lastSentAt: now,
      nextAt: now + REQUEST_INITIAL_RTO_MS,
      rto: REQUEST_INITIAL_RTO_MS,
    };
    this.pending.set(transactionIdKey(tid), p);
    this.send(p, now);
  }

  private send(p: Pending, now: number): void {
    p.authenticated = p.method !== Method.Binding && this.nonce !== undefined;
    p.lastSentAt = now;
    this.lastSentAt = now;
    this.transmits.push({ dst: p.dst, payload: this.encode(p.method, p.tid, p.attributes) });
  }

  /**
   * Every request but BINDING is authenticated once a NONCE is known (USERNAME, REALM, NONCE,
   * MESSAGE-INTEGRITY). Until then requests go without credentials (RFC 8656 §7.2 / RFC 8489 §9.2.3: coturn
   * answers 400 to credentials without a nonce); the server's 401 brings REALM and NONCE.
   */
  private encode(method: number, tid: Uint8Array, attributes: readonly Attribute[]): Uint8Array {
    if (method === Method.Binding || this.nonce === undefined) return encodeMessage({ method, cls: 'request', transactionId: tid, attributes });
    const attrs: Attribute[] = [
      ...attributes,
      { name: 'USERNAME', value: this.info.username },
      { name: 'REALM', value: this.realm },
      { name: 'NONCE', value: this.nonce },
    ];
    return encodeMessage({ method, cls: 'request', transactionId: tid, attributes: attrs }, { integrity: this.key });
  }
}

const NOT_OURS: AllocationInput = { kind: 'notOurs' };
const HANDLED: AllocationInput = { kind: 'handled' };

/** Permission key of a peer: `a.b.c.d` / `[v6]`. */
function ipKey(peer: NetAddr): string {
  return peer.family === 6 ? `[${peer.address}]` : peer.address;
}

/** Permission keys are `a.b.c.d` / `[v6]`: back to an address (port 0) for XOR-PEER-ADDRESS. */
function permissionPeer(ip: string): NetAddr | undefined {
  return ip.startsWith('[') ? netAddr(ip.slice(1, -1), 0) : netAddr(ip, 0);
}
