// Test harness: our Tunn driven by a TUN fd (read by a worker) and a node:dgram socket. Not product code:
// the real IO shell lives in @postern/tunnel; this is the smallest loop that exercises the protocol.
import { createSocket, type Socket } from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { RateLimiter, StaticIdentity, Tunn, cryptoRng, type DropReason, type TunnResult } from '../../../src/index';
import { writeFd } from './native';

export interface OurPeerOptions {
  readonly privateKey: Uint8Array;
  readonly peerPublicKey: Uint8Array;
  readonly presharedKey?: Uint8Array;
  readonly persistentKeepalive?: number;
  readonly bind: { address: string; port: number };
  readonly peerEndpoint: { address: string; port: number };
  readonly tunFd: number;
}

export class OurPeer {
  readonly tunn: Tunn;
  private readonly out = new Uint8Array(4096);
  private socket: Socket | undefined;
  private worker: Worker | undefined;
  private readonly stop = new Int32Array(new SharedArrayBuffer(4));
  private timer: NodeJS.Timeout | undefined;
  readonly counters = { keepalivesSent: 0, keepalivesReceived: 0, handshakeMessagesSent: 0, tunWrites: 0 };
  readonly errors = new Map<DropReason, number>();

  private constructor(private readonly opts: OurPeerOptions) {
    const identity = new StaticIdentity(opts.privateKey);
    this.tunn = new Tunn({
      identity,
      peerPublicKey: opts.peerPublicKey,
      ...(opts.presharedKey ? { presharedKey: opts.presharedKey } : {}),
      persistentKeepalive: opts.persistentKeepalive ?? 0,
      index: 7,
      rng: cryptoRng,
      rateLimiter: new RateLimiter(identity, cryptoRng),
      wallClockAtZero: Date.now() - performance.now(),
    });
  }

  /** Binds the socket (in the caller's current network namespace) and starts the TUN reader. */
  static async start(opts: OurPeerOptions): Promise<OurPeer> {
    const p = new OurPeer(opts);
    const socket = createSocket('udp4');
    p.socket = socket;
    socket.on('message', (msg) => {
      p.fromNetwork(msg);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.bind.port, opts.bind.address, () => {
        resolve();
      });
    });
    const worker = new Worker(new URL('./tun-reader.worker.mjs', import.meta.url), { workerData: { fd: opts.tunFd, stop: p.stop } });
    p.worker = worker;
    worker.on('message', (m: { buf?: ArrayBuffer; lens?: number[] }) => {
      if (m.buf === undefined || m.lens === undefined) return;
      let off = 0;
      for (const len of m.lens) {
        p.fromTun(new Uint8Array(m.buf, off, len));
        off += 2048;
      }
    });
    p.timer = setInterval(() => {
      p.tick();
    }, 100);
    return p;
  }

  private now(): number {
    return performance.now();
  }

  private send(r: TunnResult): void {
    if (r.kind !== 'writeToNetwork') return;
    if (r.length === 32) this.counters.keepalivesSent++;
    if (r.length === 148 || r.length === 92) this.counters.handshakeMessagesSent++;
    // node:dgram may keep the buffer until the send completes: hand it a copy
    const copy = Buffer.from(r.buffer.subarray(r.offset, r.offset + r.length));
    this.socket?.send(copy, this.opts.peerEndpoint.port, this.opts.peerEndpoint.address);
  }

  private handle(r: TunnResult): void {
    switch (r.kind) {
      case 'writeToNetwork':
        this.send(r);
        break;
      case 'writeToTunnelV4':
      case 'writeToTunnelV6':
        writeFd(this.opts.tunFd, r.buffer.subarray(r.offset, r.offset + r.length));
        this.counters.tunWrites++;
        break;
      case 'error':
        this.errors.set(r.reason, (this.errors.get(r.reason) ?? 0) + 1);
        break;
      case 'done':
        break;
    }
  }

  private flush(): void {
    for (let r = this.tunn.flushQueued(this.out, this.now()); r.kind !== 'done'; r = this.tunn.flushQueued(this.out, this.now())) this.handle(r);
  }

  private fromTun(packet: Uint8Array): void {
    this.handle(this.tunn.encapsulate(packet, this.out, this.now()));
  }

  private fromNetwork(msg: Buffer): void {
    const r = this.tunn.decapsulate(msg, this.out, this.now());
    if (r.kind === 'done' && msg.length === 32 && msg[0] === 4) this.counters.keepalivesReceived++;
    this.handle(r);
    this.flush();
  }

  private tick(): void {
    for (let i = 0; i < 4; i++) {
      const r = this.tunn.updateTimers(this.out, this.now());
      if (r.kind === 'done') break;
      this.handle(r);
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    Atomics.store(this.stop, 0, 1);
    const worker = this.worker;
    if (worker) {
      await Promise.race([new Promise((r) => worker.once('exit', r)), new Promise((r) => setTimeout(r, 2000))]);
      await worker.terminate();
    }
    await new Promise<void>((resolve) => {
      if (this.socket === undefined) resolve();
      else this.socket.close(() => { resolve(); });
    });
    this.tunn.dispose();
  }
}
