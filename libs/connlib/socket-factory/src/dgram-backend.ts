// The node:dgram fallback: same interface, one send per datagram, 'message' events into a bounded queue.
// node:dgram cannot pause reading, so when the queue is full new datagrams are dropped and counted (rxStalls).
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { Logger } from 'pino';
import { BufferPool } from '@postern/bufferpool';
import { parseSocketAddr } from './addr';
import { SocketError } from './errors';
import { GsoQueue, type Batch } from './send-queue';
import type { DatagramIn, SocketAddr, UdpSocket, UdpStats } from './types';

export interface DgramOptions {
  readonly address: string;
  readonly port: number;
  readonly portFallback: boolean;
  readonly dualStack: boolean;
  readonly sendBufferSize: number | undefined;
  readonly recvBufferSize: number | undefined;
  readonly recvCapacity: number;
  readonly pool: BufferPool | undefined;
  readonly logger: Logger | undefined;
}

async function bindOnce(o: DgramOptions, port: number): Promise<dgram.Socket> {
  const v6 = o.dualStack || parseSocketAddr(o.address, 0).family === 6;
  const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 && !o.dualStack });
  const failed = once(sock, 'error').then(([err]: unknown[]) => {
    throw err instanceof Error ? err : new Error(String(err));
  });
  sock.bind(port, o.address);
  await Promise.race([once(sock, 'listening'), failed]);
  failed.catch(() => undefined);
  return sock;
}

export async function openDgram(o: DgramOptions): Promise<DgramSocket> {
  let sock: dgram.Socket;
  try {
    sock = await bindOnce(o, o.port);
  } catch (err) {
    const inUse = err instanceof Error && 'code' in err && err.code === 'EADDRINUSE';
    if (!(inUse && o.portFallback && o.port !== 0)) throw new SocketError('BIND_FAILED', `bind ${o.address} port ${o.port}: ${String(err)}`, { cause: err });
    o.logger?.info(`UDP port ${o.port} is in use; binding an ephemeral port`);
    try {
      sock = await bindOnce(o, 0);
    } catch (err2) {
      throw new SocketError('BIND_FAILED', `bind ${o.address} (ephemeral): ${String(err2)}`, { cause: err2 });
    }
  }
  try {
    if (o.sendBufferSize !== undefined) sock.setSendBufferSize(o.sendBufferSize);
    if (o.recvBufferSize !== undefined) sock.setRecvBufferSize(o.recvBufferSize);
  } catch (err) {
    sock.close();
    throw new SocketError('SETSOCKOPT_FAILED', `buffer sizes: ${String(err)}`, { cause: err });
  }
  return new DgramSocket(sock, o);
}

export class DgramSocket implements UdpSocket {
  readonly backend = 'dgram';
  readonly gso = false;
  readonly gro = false;
  readonly sendQueue: GsoQueue;
  readonly local: SocketAddr;
  readonly dualStack: boolean;
  private readonly pool: BufferPool;
  private readonly queue: DatagramIn[] = [];
  private readonly capacity: number;
  private wake: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  private closed = false;
  private inflight = 0;
  private readonly logger: Logger | undefined;
  private rx = { datagrams: 0, bytes: 0, dropped: 0 };
  private tx = { datagrams: 0, bytes: 0, errors: 0 };

  constructor(
    private readonly sock: dgram.Socket,
    o: DgramOptions,
  ) {
    this.logger = o.logger;
    this.dualStack = o.dualStack;
    const a = sock.address();
    this.local = parseSocketAddr(a.address, a.port);
    this.capacity = o.recvCapacity * 16;
    this.pool = o.pool ?? new BufferPool({ bufferSize: 65536, slabBuffers: 16, maxBuffers: 256 });
    this.sendQueue = new GsoQueue({
      pool: this.pool,
      maxSegments: 64,
      maxBytes: Math.min(65000, this.pool.bufferSize),
      transmit: (batches) => this.transmit(batches),
      schedule: () => setImmediate(() => this.sendQueue.flush()),
    });
    sock.on('message', (msg, rinfo) => {
      if (this.queue.length >= this.capacity) {
        this.rx.dropped++;
        return;
      }
      this.queue.push({ from: parseSocketAddr(rinfo.address, rinfo.port), data: msg });
      const w = this.wake;
      this.wake = undefined;
      w?.();
    });
    sock.on('error', (err) => this.logger?.warn({ err }, `UDP socket ${this.local.key}: ${err.message}`));
  }

  addr(address: string, port?: number): SocketAddr {
    return parseSocketAddr(address, port);
  }

  tryRecvMany(max = 1024): DatagramIn[] {
    const out = this.queue.splice(0, max);
    for (const d of out) this.rx.bytes += d.data.length;
    this.rx.datagrams += out.length;
    return out;
  }

  readable(): Promise<unknown> {
    if (this.closed) return Promise.reject(new SocketError('CLOSED', `socket ${this.local.key} is closed`));
    if (this.queue.length > 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  async recvMany(max = 1024): Promise<DatagramIn[]> {
    for (;;) {
      const got = this.tryRecvMany(max);
      if (got.length > 0 || this.closed) return got;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  stats(): UdpStats {
    return {
      rxDatagrams: this.rx.datagrams,
      rxBytes: this.rx.bytes,
      rxBatches: this.rx.datagrams,
      txDatagrams: this.tx.datagrams,
      txBytes: this.tx.bytes,
      txBatches: this.tx.datagrams,
      txErrors: this.tx.errors,
      rxStalls: this.rx.dropped,
    };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.sendQueue.flush();
    const end = performance.now() + 10_000;
    while (this.inflight > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 1));
    this.closed = true;
    const w = this.wake;
    this.wake = undefined;
    w?.();
    await new Promise<void>((resolve) => {
      this.sock.close(() => {
        resolve();
      });
    });
  }

  private transmit(batches: readonly Batch[]): number {
    for (const b of batches) {
      // b is recycled by the queue after this call: the callbacks keep buf and dst, not b
      const { buf, dst, len, segSize } = b;
      let left = b.count;
      this.inflight++;
      for (let off = 0; off < len; off += segSize) {
        const end = Math.min(off + segSize, len);
        this.sock.send(buf.subarray(off, end), dst.port, this.dualStack && dst.family === 4 ? `::ffff:${dst.address}` : dst.address, (err) => {
          if (err) {
            this.tx.errors++;
            this.logger?.debug(`UDP send to ${dst.key} failed: ${err.message}`);
          } else {
            this.tx.datagrams++;
            this.tx.bytes += end - off;
          }
          if (--left === 0) {
            this.pool.release(buf);
            this.inflight--;
          }
        });
      }
    }
    return batches.length;
  }
}
