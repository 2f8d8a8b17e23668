// The Tunnel event loop against scripted TUN, socket, portal and state doubles: fairness between sources,
// backpressure from a full TUN, portal traffic both ways, clean stop. (The loop with the real devices, real
// states and real processes is covered by apps/gateway's e2e suite.)
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { DatagramIn, SendQueue, SocketAddr, UdpSocket, UdpStats } from '@postern/socket-factory';
import type { Tun, TunCloseReport, TunStats } from '@postern/tun';
import { Tunnel, type DrivenState, type PortalChannelEvent, type Transmit } from '../../src/index';

const ADDR: SocketAddr = { family: 4, address: '198.18.24.9', port: 52625, key: '198.18.24.9:52625' };
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class FakeTun implements Tun {
  readonly name = 'fake';
  readonly queues = 1;
  flood = false;
  room = Number.POSITIVE_INFINITY;
  readonly written: number[] = [];
  closed = false;
  private seq = 0;
  startFlood(): void {
    this.flood = true;
    this.wake?.();
  }
  private wake: (() => void) | undefined;
  readableCalls = 0;
  failWith: Error | undefined;
  recvMany(): Promise<Uint8Array[]> {
    return Promise.reject(new Error('the loop polls (tryRecvMany) and waits (readable)'));
  }
  tryRecvMany(max = 100): Uint8Array[] {
    if (this.failWith !== undefined) throw this.failWith;
    if (!this.flood || this.closed) return [];
    return Array.from({ length: max }, () => Uint8Array.of(this.seq++ & 0xff));
  }
  readable(): Promise<unknown> {
    this.readableCalls++;
    if (this.closed) return Promise.reject(new Error('closed'));
    if (this.flood) return Promise.resolve();
    return new Promise<void>((r) => (this.wake = r));
  }
  send(batch: readonly Uint8Array[]): number {
    const n = Math.min(batch.length, this.room);
    for (let i = 0; i < n; i++) this.written.push(batch[i]?.[0] ?? -1);
    this.room -= n;
    return n;
  }
  async sendReady(): Promise<void> {
    while (this.room <= 0 && !this.closed) await tick(5);
  }
  async sendAll(batch: readonly Uint8Array[]): Promise<void> {
    this.send(batch);
    await Promise.resolve();
  }
  stats(): TunStats {
    return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, readerStalls: 0, txQueued: 0, txErrors: 0 };
  }
  close(): Promise<TunCloseReport> {
    this.closed = true;
    this.wake?.();
    return Promise.resolve({ flushed: 0, unflushed: 0, stuckWorkers: 0, durationMs: 0 });
  }
}

class FakeSendQueue implements SendQueue {
  flushes = 0;
  private queued: number[] = [];
  constructor(private readonly sent: number[]) {}
  reserve(): Uint8Array {
    return new Uint8Array(0);
  }
  commit(): void {
    // the loop only uses push
  }
  push(_dst: SocketAddr, data: Uint8Array): void {
    this.queued.push(data[0] ?? -1);
  }
  flush(): number {
    this.flushes++;
    const n = this.queued.length;
    this.sent.push(...this.queued);
    this.queued = [];
    return n;
  }
  get pending(): number {
    return this.queued.length;
  }
}

class FakeSocket implements UdpSocket {
  readonly backend = 'dgram' as const;
  readonly local = ADDR;
  readonly dualStack = false;
  readonly gso = false;
  readonly gro = false;
  readonly sent: number[] = [];
  recvCalls = 0;
  readableCalls = 0;
  closed = false;
  private pendingData: number[] = [];
  private wake: (() => void) | undefined;
  readonly sendQueue = new FakeSendQueue(this.sent);
  get flushes(): number {
    return this.sendQueue.flushes;
  }
  deliver(values: number[]): void {
    this.pendingData.push(...values);
    this.wake?.();
  }
  recvMany(): Promise<DatagramIn[]> {
    return Promise.reject(new Error('the loop polls (tryRecvMany) and waits (readable)'));
  }
  tryRecvMany(max = 64): DatagramIn[] {
    this.recvCalls++;
    const take = this.pendingData.splice(0, max);
    return take.map((v) => ({ from: ADDR, data: Uint8Array.of(v) }));
  }
  readable(): Promise<unknown> {
    this.readableCalls++;
    if (this.closed) return Promise.reject(new Error('closed'));
    if (this.pendingData.length > 0) return Promise.resolve();
    return new Promise<void>((r) => (this.wake = r));
  }
  addr(): SocketAddr {
    return ADDR;
  }
  stats(): UdpStats {
    return { rxDatagrams: 0, rxBytes: 0, rxBatches: 0, txDatagrams: 0, txBytes: 0, txBatches: 0, txErrors: 0, rxStalls: 0 };
  }
  close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    return Promise.resolve();
  }
}

type Msg = { readonly event: string; readonly payload: unknown };

class FakeState implements DrivenState<Msg, Msg, string> {
  tun = 0;
  net = 0;
  timeouts = 0;
  deadline = 0;
  readonly portalIn: Msg[] = [];
  readonly out: Msg[] = [];
  readonly transmits: Transmit[] = [];
  handleTunPacket(packet: Uint8Array): Transmit | undefined {
    this.tun++;
    return { src: undefined, dst: ADDR, payload: packet };
  }
  handleNetworkDatagram(_from: SocketAddr, d: Uint8Array): Uint8Array {
    this.net++;
    return d;
  }
  handlePortalMessage(msg: Msg): void {
    this.portalIn.push(msg);
    this.out.push({ event: 'answer', payload: msg.payload });
  }
  handleTimeout(now: number): void {
    this.timeouts++;
    this.deadline = now + 10;
  }
  pollTimeout(): number {
    return this.deadline;
  }
  pollTransmit(): Transmit | undefined {
    return this.transmits.shift();
  }
  pollTunWrite(): undefined {
    return undefined;
  }
  pollPortalMessage(): Msg | undefined {
    return this.out.shift();
  }
  pollEvent(): undefined {
    return undefined;
  }
}

function setup(): { tun: FakeTun; socket: FakeSocket; state: FakeState; loop: Tunnel<Msg, Msg, string>; emit: (e: PortalChannelEvent<Msg>) => void; sent: Msg[] } {
  const tun = new FakeTun();
  const socket = new FakeSocket();
  const state = new FakeState();
  const listeners: ((e: PortalChannelEvent<Msg>) => void)[] = [];
  const sent: Msg[] = [];
  const portal = {
    onEvent: (l: (e: PortalChannelEvent<Msg>) => void) => {
      listeners.push(l);
      return () => listeners.splice(listeners.indexOf(l), 1);
    },
    send: (event: string, payload?: unknown) => {
      sent.push({ event, payload });
      return 1;
    },
  };
  const loop = new Tunnel<Msg, Msg, string>({ state, tun, socket, portal, logger: pino({ level: 'silent' }), batchSize: 16 });
  return { tun, socket, state, loop, emit: (e) => { for (const l of [...listeners]) l(e); }, sent };
}

describe('Tunnel event loop', () => {
  it('a flooding TUN starves neither the socket, nor the timer, nor the portal', async () => {
    const { tun, socket, state, loop, emit, sent } = setup();
    loop.start();
    tun.startFlood();
    await tick(20);
    socket.deliver([1, 2, 3]);
    emit({ type: 'message', message: { event: 'init', payload: 7 } });
    await tick(100);
    expect(state.tun).toBeGreaterThan(100);
    expect(state.net).toBe(3);
    expect(state.timeouts).toBeGreaterThan(2);
    expect(state.portalIn).toHaveLength(1);
    expect(sent).toEqual([{ event: 'answer', payload: 7 }]);
    expect(socket.sent.length).toBe(state.tun); // every transmit was flushed
    await loop.stop(1_000);
  });

  it('stops reading the socket while the TUN is full, then writes the backlog in order', async () => {
    const { tun, socket, state, loop } = setup();
    tun.room = 2;
    loop.start();
    socket.deliver([10, 11, 12, 13, 14]);
    await tick(50);
    const callsWhileFull = socket.recvCalls;
    socket.deliver([15, 16]);
    await tick(50);
    expect(tun.written).toEqual([10, 11]);
    expect(socket.recvCalls).toBe(callsWhileFull); // backpressure: no further reads
    expect(state.net).toBe(5);
    tun.room = 100;
    await tick(50);
    expect(tun.written).toEqual([10, 11, 12, 13, 14, 15, 16]);
    await loop.stop(1_000);
  });

  it('idle: waits for each source once (no busy turns), and wakes on either', async () => {
    const { tun, socket, state, loop } = setup();
    loop.start();
    await tick(50);
    expect(tun.readableCalls).toBe(1);
    expect(socket.readableCalls).toBe(1);
    const polls = socket.recvCalls;
    await tick(50);
    expect(socket.recvCalls).toBe(polls); // nothing to do: no polling turns (the state's timer still runs)
    expect(tun.readableCalls).toBe(1);
    socket.deliver([1, 2]);
    await tick(20);
    expect(state.net).toBe(2);
    expect(tun.readableCalls).toBe(1); // the TUN's wait is still out: not doubled
    expect(socket.readableCalls).toBe(2);
    await loop.stop(1_000);
  });

  it('a TUN that fails stops the loop with TUN_FAILED once; the socket is still served until stop()', async () => {
    const { tun, socket, state, loop } = setup();
    loop.start();
    tun.failWith = new Error('EIO');
    socket.deliver([1]);
    const err = await loop.done;
    expect(err?.message).toBe('reading the TUN device failed');
    expect((err as { code?: string } | undefined)?.code).toBe('TUN_FAILED');
    socket.deliver([2, 3]);
    await tick(20);
    expect(state.net).toBe(3);
    await loop.stop(1_000);
  });

  it('a deadline the last packet of a burst moves earlier fires on time (the loop looks at timers before it idles)', async () => {
    const { socket, state, loop } = setup();
    state.deadline = performance.now() + 60_000;
    const handle = state.handleTimeout.bind(state);
    state.handleTimeout = (now: number): void => {
      handle(now);
      state.deadline = now + 60_000;
    };
    state.handleNetworkDatagram = (_from: SocketAddr, d: Uint8Array): Uint8Array => {
      state.net++;
      if (d[0] === 39) state.deadline = performance.now() + 5;
      return d;
    };
    loop.start();
    await tick(20);
    const before = state.timeouts;
    socket.deliver(Array.from({ length: 40 }, (_, i) => i)); // 3 turns of 16 in one tick: the last ones skip the timer look
    await tick(60);
    expect(state.net).toBe(40);
    expect(state.timeouts).toBe(before + 1);
    await loop.stop(1_000);
  });

  it('stop() sends what the state queued last (Goodbye), closes TUN and socket, resolves done', async () => {
    const { tun, socket, state, loop } = setup();
    loop.start();
    loop.withState(() => {
      state.transmits.push({ src: undefined, dst: ADDR, payload: Uint8Array.of(99) });
    });
    await loop.stop(1_000);
    expect(socket.sent).toContain(99);
    expect(tun.closed).toBe(true);
    expect(socket.closed).toBe(true);
    await expect(loop.done).resolves.toBeUndefined();
  });
});
