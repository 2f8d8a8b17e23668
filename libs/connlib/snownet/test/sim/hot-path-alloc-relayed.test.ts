// The relayed data path allocates (almost) nothing per packet (issue 11, docs/performance.md 11.). Two snownet Nodes behind symmetric NATs
// connect through a TURN relay driven by the real sans-IO `TurnServer` (@postern/relay-proto); then 100,000 packets
// each way go the whole relayed way in memory, with real crypto, shaped like the real sockets deliver them:
// Node.encapsulate seals into a GsoQueue batch as ChannelData -> the relay's listening socket's receive ring ->
// TurnServer.handleClientInput -> the relay's relayed socket sends the payload to the other allocation's relayed
// port (that socket's receive ring) -> TurnServer.handlePeerInput -> framed as ChannelData into the receiving
// host's socket receive ring -> Node.decapsulate (decrypted in place). Every receive ring is 256 slots of 64 KiB
// (the batched socket's default is 64 slots: more positions are the harder case), one cached view per (slot,
// segment) as the batched socket (socket-factory batched.ts) keeps them, a new slot per turn. V8's sampling heap
// profiler counts every byte allocated meanwhile, including what a scavenge collected.
import { BufferPool, ViewCache } from '@postern/bufferpool';
import { buildUdp, parseIp } from '@postern/ip-packet';
import { GsoQueue, type Batch } from '@postern/socket-factory';
import { writeChannelDataHeader } from '@postern/stun';
import { measureAllocations } from '@postern/testing';
import { describe, expect, it } from 'vitest';
import type { NetAddr, Node } from '../../src/index';
import { World, addr, type SimRelay } from './world';

const PACKETS = 100_000;
const TURN = 64;
const RING_SLOTS = 256;
const RING_SEGS = 64;
const SLOT = 65536;
const EMPTY = new Uint8Array(0);

/** The relayed data path's own code: snownet, the TURN server, the AEAD, STUN framing, views and the send queue. */
const DATA_PATH = /\/libs\/connlib\/(snownet\/src\/|relay-proto\/src\/|wireguard\/src\/|stun\/src\/|bufferpool\/src\/|socket-factory\/src\/)/;
/**
 * Bounds (bytes per packet, both directions together). Measured 2026-11-26 with this suite: 312 B/packet in total
 * (204 in the data path's files, plus ~50 of its code inlined into this file's functions) while snownet's
 * Allocation.handleInput made a fresh `subarray` for every ChannelData payload (so the decrypted packet's view,
 * a child of the payload, and the AEAD's per-view body state missed too: >= 3 objects and 3 WeakMap entries per
 * received packet) and Node.encapsulateRelayed asked one `ViewCache.within` for two children of the same `out`
 * (the WireGuard tail and the framed datagram evicted each other: 2 views per sent packet); 42 (28) once the
 * payload is the child of the datagram's reused view and the framed datagram has a cache of its own. What is
 * left: when a ring position changes size (a new datagram view), its payload, packet and AEAD views are made anew.
 * One object per packet is >= 16 B.
 */
const MAX_DATA_PATH_BYTES = 40;
const MAX_TOTAL_BYTES = 64;

/** The memory of every receive ring (one SharedArrayBuffer: a hop copies from ring to ring with copyWithin). */
const MEM = new Uint8Array(new SharedArrayBuffer(5 * RING_SLOTS * SLOT));
let nextRing = 0;

/**
 * The clock, read once per turn as the IO loop does (`performance.now()`: a boxed, fractional number). A module
 * variable holds the box: a double in an object field or a local would be boxed again for every call it is
 * passed to, per packet, in this file (not the data path's allocation).
 */
let now = 0;

/**
 * A socket's receive ring as the batched socket fills it (recvmmsg with GRO): a slot holds one super-datagram of
 * same-size segments (another size, or a full slot, starts the next slot). `put` copies a datagram in and returns
 * the cached view of its (slot, segment); `turn` (the next recvmmsg) moves to the next slot.
 */
class Ring {
  private readonly base = nextRing++ * RING_SLOTS * SLOT;
  private readonly views = new ViewCache(RING_SLOTS * RING_SEGS);
  private slot = 0;
  private seg = 0;
  private off = 0;
  private segSize = 0;

  /** `src[start..end)`, with a ChannelData header for `channel` in front when `channel` is given. */
  put(src: Uint8Array, start: number, end: number, channel?: number): Uint8Array {
    const head = channel === undefined ? 0 : 4;
    const len = head + end - start;
    if (this.seg > 0 && (len !== this.segSize || this.seg >= RING_SEGS || this.off + len > SLOT)) this.turn();
    this.segSize = len;
    const at = this.base + this.slot * SLOT + this.off;
    if (channel !== undefined) writeChannelDataHeader(MEM, at, channel, end - start);
    if (src.buffer === MEM.buffer) MEM.copyWithin(at + head, src.byteOffset + start, src.byteOffset + end);
    else if (start === 0 && end === src.length) MEM.set(src, at + head);
    else throw new Error('a datagram from outside the rings is a whole view');
    const v = this.views.viewAt(this.slot * RING_SEGS + this.seg, MEM, at, len);
    this.seg++;
    this.off += len;
    return v;
  }

  turn(): void {
    if (this.seg === 0) return;
    this.slot = (this.slot + 1) % RING_SLOTS;
    this.seg = 0;
    this.off = 0;
  }
}

/** One host of the relayed pair: its Node, its send queue and the ring its socket receives into. */
interface Side {
  readonly host: World['client'];
  readonly node: Node;
  readonly peerId: string;
  /** Where its datagrams to the peer go (the relay's listening port or the peer's relayed address). */
  dst: NetAddr;
  /** Its public (NAT-mapped) address towards each destination (as a NAT keeps them: made once per mapping). */
  readonly publicAddr: Map<string, NetAddr>;
  readonly q: GsoQueue;
  readonly rx: Ring;
  /** Datagrams received this turn (views into `rx`) and their senders, decapsulated by `deliverAll`. */
  readonly pending: Uint8Array[];
  readonly pendingFrom: NetAddr[];
  pendingCount: number;
  delivered: number;
}

interface Net {
  readonly relay: SimRelay;
  readonly client: Side;
  readonly gateway: Side;
  /** The relay's listening socket's and its relayed sockets' receive rings. */
  readonly relayMainRx: Ring;
  readonly relayPeerRx: Ring;
  /** The relay's relayed addresses by port (as its relayed sockets' recvmmsg would give them, cached). */
  readonly relayed: Map<number, NetAddr>;
  lost: number;
}

function ipv4(s: string): Uint8Array {
  const a = parseIp(s);
  if (a === undefined) throw new Error(s);
  return a;
}

function udp(src: string, dst: string, n: number, size: number): Uint8Array {
  return buildUdp({ source: ipv4(src), destination: ipv4(dst), sourcePort: 5000, destinationPort: 80, payload: new Uint8Array(size - 28).fill(n & 0xff) });
}

/** Client and gateway behind symmetric NATs, connected over relayed candidates of one relay. */
function relayedWorld(): World {
  const w = new World({ clientNat: 'symmetric', gatewayNat: 'symmetric', relays: 1 });
  w.useRelays();
  w.run(500);
  w.connect();
  w.run(5_000);
  if (w.client.node.stats('gateway')?.path !== 'relay' || w.gateway.node.stats('client')?.path !== 'relay') throw new Error('not a relayed pair');
  return w;
}

function publicAddrOf(s: Side, dst: NetAddr): NetAddr {
  let a = s.publicAddr.get(dst.key);
  if (a === undefined) {
    a = s.host.nat === undefined ? s.host.addr : s.host.nat.outbound(s.host.addr, dst);
    s.publicAddr.set(dst.key, a);
  }
  return a;
}

function side(host: World['client'], net: () => Net): Side {
  const pool = new BufferPool({ bufferSize: 65536, slabBuffers: 4, maxBuffers: 16 });
  // the segments of a send batch, as the socket's sendmmsg sees them (reused views of the pooled buffers)
  const segments = new ViewCache(4096);
  const s: Side = {
    host,
    node: host.node,
    peerId: host.peer,
    dst: host.addr,
    publicAddr: new Map(),
    rx: new Ring(),
    pending: [],
    pendingFrom: [],
    pendingCount: 0,
    delivered: 0,
    q: new GsoQueue({
      pool,
      maxSegments: 64,
      maxBytes: 65000,
      schedule: () => undefined,
      transmit: (batches: readonly Batch[]) => {
        const n = net();
        for (let i = 0; i < batches.length; i++) {
          const b = batches[i];
          if (b === undefined) continue;
          const from = publicAddrOf(s, b.dst);
          for (let off = 0; off < b.len; off += b.segSize) {
            const len = Math.min(b.segSize, b.len - off);
            arrive(n, from, b.dst, segments.view(b.buf, off, len), 0, len, undefined);
          }
          pool.release(b.buf);
        }
        return batches.length;
      },
    }),
  };
  return s;
}

/**
 * A datagram `src[start..end)` (with a ChannelData header for `channel` in front when given) from `from` arrives at
 * `to`: in the receiving socket's ring, then handled the way apps/relay or the tunnel loop does: the relay forwards
 * (ChannelData -> its relayed socket; a peer's datagram on a relayed port -> ChannelData to the client), a host
 * queues it for decapsulation.
 */
function arrive(n: Net, from: NetAddr, to: NetAddr, src: Uint8Array, start: number, end: number, channel: number | undefined): void {
  const relay = n.relay;
  if (to.address === relay.ip) {
    const server = relay.server;
    if (to.port === relay.main.port) {
      const d = n.relayMainRx.put(src, start, end, channel);
      const f = server.handleClientInput(d, from, now);
      const relayFrom = f === undefined ? undefined : n.relayed.get(f.relayPort);
      if (f?.toPeer !== true || relayFrom === undefined) {
        n.lost++;
        return;
      }
      // the Forward verdict is one reused object: it is read before the next call
      arrive(n, relayFrom, f.dst, d, f.start, f.end, undefined);
      return;
    }
    const d = n.relayPeerRx.put(src, start, end, channel);
    const f = server.handlePeerInput(d, from, 4, to.port, now);
    if (f === undefined || f.toPeer) {
      n.lost++;
      return;
    }
    arrive(n, relay.main, f.dst, d, f.start, f.end, f.channel);
    return;
  }
  for (const s of [n.client, n.gateway]) {
    if (publicAddrOf(s, from).key !== to.key) continue;
    s.pendingFrom[s.pendingCount] = from;
    s.pending[s.pendingCount++] = s.rx.put(src, start, end, channel);
    return;
  }
  n.lost++;
}

function deliverAll(n: Net, s: Side): void {
  for (let i = 0; i < s.pendingCount; i++) {
    const r = s.node.decapsulate(s.pendingFrom[i] ?? n.relay.main, s.pending[i] ?? EMPTY, now);
    if (r.kind === 'packet') s.delivered++;
    s.pending[i] = EMPTY;
  }
  s.pendingCount = 0;
  s.rx.turn();
}

function net(): Net {
  const w = relayedWorld();
  const relay = w.relays[0];
  if (relay === undefined) throw new Error('no relay');
  // the send queues' transmit callbacks need the net they belong to
  const ref: { net: Net | undefined } = { net: undefined };
  const get = (): Net => {
    if (ref.net === undefined) throw new Error('net');
    return ref.net;
  };
  const client = side(w.client, get);
  const gateway = side(w.gateway, get);
  const relayed = new Map<number, NetAddr>();
  for (let p = 50_000; p <= 50_999; p++) relayed.set(p, addr(relay.ip, p));
  now = Math.ceil(w.now);
  const n: Net = { relay, client, gateway, relayMainRx: new Ring(), relayPeerRx: new Ring(), relayed, lost: 0 };
  ref.net = n;
  // where each side sends: one packet each way through the node (not delivered: the receiver sees a gap)
  for (const s of [client, gateway]) {
    const r = s.node.encapsulate(s.peerId, udp('100.64.0.1', '10.0.0.1', 0, 100), now);
    if (r.kind !== 'transmit') throw new Error('no transmit');
    s.dst = r.transmit.dst;
  }
  return n;
}

/** Seals `packet` into the side's send batch the way the tunnel loop does (reserve -> Node -> commit). */
function seal(n: Net, s: Side, packet: Uint8Array): void {
  const out = s.q.reserve(s.dst, packet.length + 64);
  const r = s.node.encapsulate(s.peerId, packet, now, out);
  if (r.kind !== 'transmit' || r.transmit.dst.key !== s.dst.key || r.transmit.payload.buffer !== out.buffer || r.transmit.payload.byteOffset !== out.byteOffset) {
    s.q.commit(0);
    throw new Error(`not sealed into the reserved buffer: ${r.kind === 'drop' ? r.reason : 'elsewhere'}`);
  }
  s.q.commit(r.transmit.payload.length);
}

/** Timers when due; their transmits (keepalives, refreshes) are not part of this measurement and go nowhere. */
function timers(n: Net): void {
  for (const node of [n.client.node, n.gateway.node]) {
    if ((node.pollTimeout() ?? Infinity) <= now) node.handleTimeout(now);
    while (node.pollTransmit() !== undefined);
    while (node.pollEvent() !== undefined);
  }
  n.relay.server.handleTimeout(now);
  while (n.relay.server.pollTransmit() !== undefined);
  while (n.relay.server.pollEvent() !== undefined);
}

function pump(n: Net, count: number, ups: readonly Uint8Array[], downs: readonly Uint8Array[], tick: number): void {
  for (let i = 0; i < count; i++) {
    seal(n, n.client, ups[i % ups.length] ?? EMPTY);
    seal(n, n.gateway, downs[i % downs.length] ?? EMPTY);
    if (i % TURN === TURN - 1) {
      now += tick;
      n.client.q.flush();
      n.gateway.q.flush();
      n.relayMainRx.turn();
      n.relayPeerRx.turn();
      deliverAll(n, n.gateway);
      deliverAll(n, n.client);
      timers(n);
    }
  }
  n.client.q.flush();
  n.gateway.q.flush();
  deliverAll(n, n.gateway);
  deliverAll(n, n.client);
}

describe('hot path allocation, relayed (Node -> ChannelData -> TurnServer -> ChannelData -> Node, both ways)', () => {
  it("allocates ~0 bytes per packet with real traffic's shape: ring positions, mixed sizes, a fractional clock", async () => {
    const n = net();
    // TCP-like: full-size data one way, ACK-sized the other, an odd size in both every 50 packets
    const sizes = (common: number, odd: number): number[] => Array.from({ length: 50 }, (_, i) => (i === 49 ? odd : common));
    const ups = sizes(1200, 700).map((size, i) => udp('100.64.0.1', '10.0.0.1', i, size));
    const downs = sizes(60, 333).map((size, i) => udp('10.0.0.1', '100.64.0.1', i, size));
    const tick = 0.371; // performance.now() is fractional
    pump(n, 20_000, ups, downs, tick); // warm-up: JIT, caches, pools
    const before = { up: n.gateway.delivered, down: n.client.delivered };
    const report = await measureAllocations(() => {
      pump(n, PACKETS, ups, downs, tick);
    });
    // every packet went the whole relayed way, in both directions
    expect(n.lost).toBe(0);
    expect(n.gateway.delivered - before.up).toBe(PACKETS);
    expect(n.client.delivered - before.down).toBe(PACKETS);
    expect(n.client.node.stats('gateway')?.path).toBe('relay');
    const perPacket = report.bytes / (2 * PACKETS);
    let dataPath = 0;
    for (const [file, bytes] of report.byFile) if (DATA_PATH.test(file)) dataPath += bytes;
    const files = [...report.byFile].sort((a, b) => b[1] - a[1]).map(([f, b]) => `  ${(b / (2 * PACKETS)).toFixed(2)} B/packet  ${f}`);
    process.stdout.write(
      `relayed hot path: ${perPacket.toFixed(2)} B/packet (data path ${(dataPath / (2 * PACKETS)).toFixed(3)})\n${files.join('\n')}\n${report.top.slice(0, 15).join('\n')}\n`,
    );
    expect(dataPath / (2 * PACKETS), report.top.join('\n')).toBeLessThan(MAX_DATA_PATH_BYTES);
    expect(perPacket, report.top.join('\n')).toBeLessThan(MAX_TOTAL_BYTES);
  });
});
