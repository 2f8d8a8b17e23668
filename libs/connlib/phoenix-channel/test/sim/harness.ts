// Drives a PhoenixChannelCore with a fake clock and a fake socket (the in-memory "portal" is the test).
import { PhoenixChannelCore, type ChannelAction, type ChannelEvent, type InboundFrame, type PhoenixChannelCoreConfig, type Rng } from '../../src/index';

export type Msg = { readonly event: string; readonly payload: unknown };

/** A deterministic Rng (xorshift32). */
export function seededRng(seed = 1): Rng & { midpoint?: boolean } {
  let x = seed >>> 0 || 1;
  return {
    fill(bytes: Uint8Array): void {
      for (let i = 0; i < bytes.length; i++) bytes[i] = this.nextU32() & 0xff;
    },
    nextU32(): number {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x;
    },
  };
}

/** An Rng whose jitter is always zero (nextU32 = 2^31 => factor 1.0). */
export const noJitter: Rng = {
  fill(bytes: Uint8Array): void {
    bytes.fill(0);
  },
  nextU32: () => 0x8000_0000,
};

export function acceptAll(frame: InboundFrame): { ok: true; value: Msg } | { ok: false; error: unknown } {
  if (frame.event === 'unknown_thing') return { ok: false, error: new Error('unknown event') };
  return { ok: true, value: { event: frame.event, payload: frame.payload } };
}

export class Harness {
  now = 0;
  readonly core: PhoenixChannelCore<Msg>;
  /** Frames the client sent on the current connection. */
  sent: string[] = [];
  allSent: string[] = [];
  events: ChannelEvent<Msg>[] = [];
  opens = 0;
  closes = 0;
  /** The socket id the "server" side is on; undefined when no socket. */
  socket: number | undefined;
  /** When true, an `open` action connects immediately. */
  autoOpen = true;
  /** When true, a phx_join is answered ok at once. */
  autoJoin = true;

  constructor(config: Partial<PhoenixChannelCoreConfig<Msg>> = {}) {
    this.core = new PhoenixChannelCore<Msg>({ topic: 'client', joinPayload: null, decode: acceptAll, rng: noJitter, ...config });
  }

  start(): this {
    this.core.connect(this.now);
    this.drain();
    return this;
  }

  drain(): void {
    for (let i = 0; i < 1000; i++) {
      let progressed = false;
      let a: ChannelAction | undefined;
      while ((a = this.core.pollAction())) {
        progressed = true;
        this.onAction(a);
      }
      let e;
      while ((e = this.core.pollEvent())) {
        progressed = true;
        this.events.push(e);
      }
      if (!progressed) return;
    }
    throw new Error('drain did not settle');
  }

  private onAction(a: ChannelAction): void {
    switch (a.type) {
      case 'open':
        this.opens++;
        this.socket = a.connection;
        this.sent = [];
        if (this.autoOpen) this.core.handleOpen(a.connection, this.now);
        break;
      case 'send':
        if (a.connection !== this.socket) throw new Error(`send on stale connection ${a.connection}`);
        this.sent.push(a.text);
        this.allSent.push(a.text);
        if (this.autoJoin) {
          const f = JSON.parse(a.text) as { event: string; ref: number; topic: string };
          if (f.event === 'phx_join') this.serverSend({ event: 'phx_reply', ref: f.ref, topic: f.topic, payload: { status: 'ok', response: {} } });
        }
        break;
      case 'close':
        if (a.connection === this.socket) {
          this.closes++;
          this.socket = undefined;
        }
        break;
    }
  }

  serverSend(frame: unknown): void {
    if (this.socket === undefined) throw new Error('no socket');
    this.core.handleText(this.socket, typeof frame === 'string' ? frame : JSON.stringify(frame), this.now);
    this.drain();
  }

  /** Advances the fake clock to `t`, firing every timeout on the way. */
  advanceTo(t: number): void {
    for (let i = 0; i < 100_000; i++) {
      this.drain();
      const at = this.core.pollTimeout();
      if (at === undefined || at > t) break;
      this.now = Math.max(this.now, at);
      this.core.handleTimeout(this.now);
    }
    this.now = t;
    this.drain();
  }
  advance(ms: number): void {
    this.advanceTo(this.now + ms);
  }

  sentEvents(): string[] {
    return this.sent.map((s) => (JSON.parse(s) as { event: string }).event);
  }
  eventTypes(): string[] {
    return this.events.map((e) => e.type);
  }
  takeEvents(): ChannelEvent<Msg>[] {
    const e = this.events;
    this.events = [];
    return e;
  }
}
