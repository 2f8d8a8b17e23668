// A simulated network for snownet: a client Node and a gateway Node, each on the WAN or behind a NAT
// (endpoint-independent mapping, or symmetric: a new port per destination; both filter by address and port
// like nft masquerade does), TURN relays driven by the real sans-IO `TurnServer` of @postern/relay-proto with
// Firezone credentials, a fake portal that relays ICE candidates, and a fake clock. Every hop takes LATENCY ms.
import { buildUdp, parseIp } from '@postern/ip-packet';
import { firezonePassword, TurnServer, type Forward } from '@postern/relay-proto';
import { writeChannelDataHeader } from '@postern/stun';
import { Node, netAddr, type NetAddr, type NodeEvent, type RelayInfo } from '../../src/index';
import { key, seededRng } from '../support/rng';

export const LATENCY = 5;
export type NatKind = 'none' | 'eim' | 'symmetric';

export function addr(ip: string, port: number): NetAddr {
  const a = netAddr(ip, port);
  if (a === undefined) throw new Error(`${ip}:${String(port)}`);
  return a;
}

class Nat {
  private nextPort = 20_000;
  private readonly out = new Map<string, number>();
  private readonly back = new Map<number, { readonly inside: NetAddr; readonly allowed: Set<string> }>();

  constructor(
    readonly publicIp: string,
    readonly kind: 'eim' | 'symmetric',
  ) {}

  outbound(inside: NetAddr, dst: NetAddr): NetAddr {
    const k = this.kind === 'eim' ? inside.key : `${inside.key}>${dst.key}`;
    let port = this.out.get(k);
    if (port === undefined) {
      port = this.nextPort;
      this.nextPort += this.kind === 'eim' ? 1 : 7;
      this.out.set(k, port);
      this.back.set(port, { inside, allowed: new Set() });
    }
    this.back.get(port)?.allowed.add(dst.key);
    return addr(this.publicIp, port);
  }

  /** Address- and port-dependent filtering: only answers from where the mapping sent to. */
  inbound(from: NetAddr, port: number): NetAddr | undefined {
    const m = this.back.get(port);
    return m !== undefined && m.allowed.has(from.key) ? m.inside : undefined;
  }
}

export class SimRelay {
  readonly server: TurnServer;
  alive = true;
  readonly main: NetAddr;

  constructor(
    readonly id: string,
    readonly ip: string,
    readonly secret: string,
    seed: number,
    nonceUses?: number,
    /** Also an IPv6 address (dual-stack relay). */
    readonly ip6?: string,
  ) {
    this.server = new TurnServer(
      {
        publicIp4: ip,
        ...(ip6 === undefined ? {} : { publicIp6: ip6 }),
        stampSecret: secret,
        lowestPort: 50_000,
        highestPort: 50_999,
        ...(nonceUses === undefined ? {} : { nonceUses }),
      },
      seededRng(seed),
    );
    this.main = addr(ip, 3478);
    this.main6 = ip6 === undefined ? undefined : addr(ip6, 3478);
  }

  readonly main6: NetAddr | undefined;

  /** This relay's address of a family. */
  at(family: 4 | 6, port: number): NetAddr {
    return addr(family === 6 && this.ip6 !== undefined ? this.ip6 : this.ip, port);
  }

  /** Firezone credentials for a device, as the portal mints them. */
  info(salt: string): RelayInfo {
    const expiry = 4_000_000_000;
    return { id: this.id, ipv4: this.ip, ...(this.ip6 === undefined ? {} : { ipv6: this.ip6 }), port: 3478, username: `${String(expiry)}:${salt}`, password: firezonePassword(this.secret, expiry, salt) };
  }
}

interface Packet {
  readonly at: number;
  readonly from: NetAddr;
  readonly to: NetAddr;
  readonly payload: Uint8Array;
}

interface Host {
  readonly name: string;
  readonly node: Node;
  readonly addr: NetAddr;
  /** The IPv6 address (never NATed), if the world is dual-stack. */
  readonly addr6: NetAddr | undefined;
  readonly nat: Nat | undefined;
  readonly events: NodeEvent[];
  readonly delivered: Uint8Array[];
  peer: string;
}

export interface WorldOptions {
  readonly clientNat: NatKind;
  readonly gatewayNat: NatKind;
  readonly relays?: number;
  /** Seed for the Nodes' keys. */
  readonly seed?: number;
  /** Requests a relay nonce serves before the relay answers 438 (default: the server's 10 000). */
  readonly nonceUses?: number;
  /** Dual-stack: hosts and relays also get IPv6 addresses (fd00:18:32::/64, no NAT for IPv6). */
  readonly ipv6?: boolean;
  /** Extra ms on the direct path between the two hosts (not to or from a relay): a relay closer than the peer. */
  readonly directExtraLatency?: number;
}

export class World {
  now = 0;
  readonly client: Host;
  readonly gateway: Host;
  readonly relays: SimRelay[] = [];
  private queue: Packet[] = [];
  /** Datagrams dropped: no route, NAT filter, dead relay. */
  dropped = 0;
  private readonly psk: Uint8Array;
  private readonly directExtra: number;

  constructor(opts: WorldOptions) {
    this.directExtra = opts.directExtraLatency ?? 0;
    const rng = seededRng(opts.seed ?? 7);
    const v6 = opts.ipv6 === true;
    this.client = this.host('client', 'gateway', opts.clientNat, '198.18.32.2', '198.18.33.2', 40_000, '198.18.32.20', key(rng), v6 ? 'fd00:18:32::2' : undefined);
    this.gateway = this.host('gateway', 'client', opts.gatewayNat, '198.18.32.3', '198.18.34.2', 52_625, '198.18.32.30', key(rng), v6 ? 'fd00:18:32::3' : undefined);
    this.psk = key(rng);
    for (let i = 0; i < (opts.relays ?? 1); i++) this.relays.push(new SimRelay(`relay-${String(i)}`, `198.18.32.${String(10 + i)}`, 'ab'.repeat(32), 40 + i, opts.nonceUses, v6 ? `fd00:18:32::${String(10 + i)}` : undefined));
  }

  private host(name: string, peer: string, nat: NatKind, wanIp: string, lanIp: string, port: number, natIp: string, privateKey: Uint8Array, ip6: string | undefined): Host {
    const node = new Node({ role: name === 'client' ? 'client' : 'gateway', privateKey, rng: seededRng(name === 'client' ? 1 : 2), wallClockAtZero: 1_700_000_000_000 });
    const a = addr(nat === 'none' ? wanIp : lanIp, port);
    const a6 = ip6 === undefined ? undefined : addr(ip6, port);
    node.setLocalAddresses(a6 === undefined ? [a] : [a, a6], 0);
    return { name, node, addr: a, addr6: a6, nat: nat === 'none' ? undefined : new Nat(natIp, nat), events: [], delivered: [], peer };
  }

  /** Both sides learn every relay (the portal's `init.relays`). */
  useRelays(): void {
    this.client.node.updateRelays([], this.relays.map((r) => r.info('client-salt')), this.now);
    this.gateway.node.updateRelays([], this.relays.map((r) => r.info('gateway-salt')), this.now);
    this.drain();
  }

  /** The portal authorises: both connections with ICE credentials. */
  connect(): void {
    const c = { username: 'cufr', password: 'client-password-123456' };
    const g = { username: 'gufr', password: 'gateway-password-12345' };
    this.gateway.node.upsertConnection('client', { publicKey: this.client.node.publicKey, presharedKey: this.psk, localIceCredentials: g, remoteIceCredentials: c }, this.now);
    this.client.node.upsertConnection('gateway', { publicKey: this.gateway.node.publicKey, presharedKey: this.psk, localIceCredentials: c, remoteIceCredentials: g }, this.now);
    this.drain();
  }

  /** Runs the clock for `ms`, delivering packets and firing timers in order. */
  run(ms: number, each?: (now: number) => void): void {
    const end = this.now + ms;
    while (this.now < end) {
      let next = end;
      for (const h of [this.client, this.gateway]) {
        const t = h.node.pollTimeout();
        if (t !== undefined) next = Math.min(next, Math.max(t, this.now));
      }
      for (const r of this.relays) {
        const t = r.server.pollTimeout();
        if (t !== undefined) next = Math.min(next, Math.max(t, this.now));
      }
      const head = this.queue[0];
      if (head !== undefined) next = Math.min(next, head.at);
      this.now = Math.max(next, this.now + 1);
      while (this.queue[0] !== undefined && this.queue[0].at <= this.now) {
        const p = this.queue.shift();
        if (p !== undefined) this.deliver(p);
      }
      for (const h of [this.client, this.gateway]) if ((h.node.pollTimeout() ?? Infinity) <= this.now) h.node.handleTimeout(this.now);
      for (const r of this.relays) r.server.handleTimeout(this.now);
      each?.(this.now);
      this.drain();
    }
  }

  /** Sends `count` UDP packets through the tunnel from `from` (after the clock advanced `gapMs` each) and returns how many arrived. */
  traffic(from: 'client' | 'gateway', count: number, gapMs = 10): number {
    const h = from === 'client' ? this.client : this.gateway;
    const other = from === 'client' ? this.gateway : this.client;
    const before = other.delivered.length;
    for (let i = 0; i < count; i++) {
      const r = h.node.encapsulate(h.peer, udp(i), this.now);
      if (r.kind === 'transmit') this.send(h, r.transmit.dst, r.transmit.payload.slice());
      this.run(gapMs);
    }
    this.run(100);
    return other.delivered.length - before;
  }

  /** Moves every queued output: transmits into the network, candidates through the fake portal. */
  drain(): void {
    for (let round = 0; round < 50; round++) {
      let moved = false;
      for (const h of [this.client, this.gateway]) {
        for (let t = h.node.pollTransmit(); t !== undefined; t = h.node.pollTransmit()) {
          moved = true;
          this.send(h, t.dst, t.payload);
        }
        const other = h === this.client ? this.gateway : this.client;
        for (let e = h.node.pollEvent(); e !== undefined; e = h.node.pollEvent()) {
          moved = true;
          h.events.push(e);
          if (e.type === 'newIceCandidate') other.node.addRemoteCandidate(h.name, e.candidate, this.now);
          if (e.type === 'invalidatedIceCandidate') other.node.removeRemoteCandidate(h.name, e.candidate, this.now);
        }
      }
      for (const r of this.relays) {
        for (let t = r.server.pollTransmit(); t !== undefined; t = r.server.pollTransmit()) {
          moved = true;
          const from = t.source.kind === 'main' ? (t.dst.family === 6 && r.main6 !== undefined ? r.main6 : r.main) : r.at(t.source.family, t.source.port);
          this.post(from, t.dst, t.payload);
        }
        while (r.server.pollEvent() !== undefined) moved = true;
      }
      if (!moved) return;
    }
  }

  private send(h: Host, dst: NetAddr, payload: Uint8Array): void {
    if (dst.family === 6) {
      if (h.addr6 === undefined) {
        this.dropped++;
        return;
      }
      this.post(h.addr6, dst, payload);
      return;
    }
    const from = h.nat === undefined ? h.addr : h.nat.outbound(h.addr, dst);
    this.post(from, dst, payload);
  }

  private post(from: NetAddr, to: NetAddr, payload: Uint8Array): void {
    const direct = !this.relays.some((r) => r.ip === from.address || r.ip === to.address || r.ip6 === from.address || r.ip6 === to.address);
    const at = this.now + LATENCY + (direct ? this.directExtra : 0);
    // in order of arrival (a slower path lets later packets of a faster one pass)
    let i = this.queue.length;
    while (i > 0 && (this.queue[i - 1]?.at ?? 0) > at) i--;
    this.queue.splice(i, 0, { at, from, to, payload });
  }

  private deliver(p: Packet): void {
    const relay = this.relays.find((r) => r.ip === p.to.address || r.ip6 === p.to.address);
    if (relay !== undefined) {
      if (!relay.alive) {
        this.dropped++;
        return;
      }
      const f =
        p.to.port === 3478
          ? relay.server.handleClientInput(p.payload, p.from, this.now)
          : relay.server.handlePeerInput(p.payload, p.from, p.to.family, p.to.port, this.now);
      if (f !== undefined) this.forward(relay, f, p.payload);
      this.drain();
      return;
    }
    for (const h of [this.client, this.gateway]) {
      let to: NetAddr | undefined = p.to;
      if (p.to.family === 6) to = p.to.key === h.addr6?.key ? p.to : undefined;
      else if (h.nat !== undefined) to = p.to.address === h.nat.publicIp ? h.nat.inbound(p.from, p.to.port) : undefined;
      else if (p.to.key !== h.addr.key) to = undefined;
      if (to === undefined) continue;
      const r = h.node.decapsulate(p.from, p.payload, this.now);
      if (r.kind === 'packet') h.delivered.push(r.packet.slice());
      this.drain();
      return;
    }
    this.dropped++;
  }

  private forward(relay: SimRelay, f: Forward, payload: Uint8Array): void {
    if (f.toPeer) {
      this.post(relay.at(f.relayFamily, f.relayPort), f.dst, payload.slice(f.start, f.end));
      return;
    }
    const framed = new Uint8Array(4 + f.end - f.start);
    framed.set(payload.subarray(f.start, f.end), 4);
    writeChannelDataHeader(framed, 0, f.channel, f.end - f.start);
    this.post(f.dst.family === 6 && relay.main6 !== undefined ? relay.main6 : relay.main, f.dst, framed);
  }
}

export function udp(n: number): Uint8Array {
  const source = parseIp('100.64.0.1');
  const destination = parseIp('10.0.0.1');
  if (source === undefined || destination === undefined) throw new Error('ip');
  return buildUdp({ source, destination, sourcePort: 1000 + (n % 60_000), destinationPort: 80, payload: new Uint8Array([n & 0xff, 1, 2, 3]) });
}
