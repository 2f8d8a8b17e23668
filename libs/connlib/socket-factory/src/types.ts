import type { Logger } from 'pino';
import type { BufferPool } from '@postern/bufferpool';

/** A UDP endpoint. IPv4-mapped IPv6 addresses are reported as family 4. Objects are reused: do not mutate. */
export interface SocketAddr {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  /** `a.b.c.d:port` or `[v6]:port`: a stable Map key. */
  readonly key: string;
}

export type UdpBackend = 'batched' | 'dgram';

export interface UdpSocketOptions {
  /** Local address; default `::` with dualStack, else `0.0.0.0`. */
  readonly address?: string;
  /** Local port; default 52625 (Postern's), 0 for ephemeral. */
  readonly port?: number;
  /** If the port is taken, bind an ephemeral one instead of failing; default true. */
  readonly portFallback?: boolean;
  /** One IPv6 socket that also carries IPv4 (IPV6_V6ONLY=0); default true when `address` is unset or `::`. */
  readonly dualStack?: boolean;
  /** `batched` = koffi recvmmsg/sendmmsg (+GRO/GSO), `dgram` = node:dgram, `auto` = batched where available; default auto. */
  readonly backend?: 'auto' | UdpBackend;
  /** Use UDP_SEGMENT on send when the kernel has it; default true. */
  readonly gso?: boolean;
  /** Use UDP_GRO on receive when the kernel has it; default true. */
  readonly gro?: boolean;
  /** SO_MARK (fwmark) for routing-loop prevention (needs CAP_NET_ADMIN). */
  readonly mark?: number;
  /** SO_SNDBUFFORCE (falls back to SO_SNDBUF without CAP_NET_ADMIN), bytes. */
  readonly sendBufferSize?: number;
  /** SO_RCVBUFFORCE (falls back to SO_RCVBUF), bytes. */
  readonly recvBufferSize?: number;
  /** Largest datagram carried (bytes); default 1500. */
  readonly maxDatagramSize?: number;
  /**
   * Receive channel size in super-datagrams (power of two); default 64. With GRO a slot holds up to 64 segments,
   * each with a view the receive path reuses: 64 slots keep 4,096 of them (256 kept 16,384, promoted anew
   * whenever the traffic's datagram size changed: performance.md, section 34).
   */
  readonly recvCapacity?: number;
  /**
   * The batched backend's receive worker records its garbage collections (node:v8 GCProfiler), reported as
   * `stats().workerGc` after close. Default: POSTERN_WORKER_GC_STATS=1.
   */
  readonly gcStats?: boolean;
  /** Pool for send batches (64 KiB buffers); default one per socket. */
  readonly pool?: BufferPool;
  readonly logger?: Logger;
}

/** One received datagram: `data` is a view valid until the next recvMany/tryRecvMany call. */
export interface DatagramIn {
  readonly from: SocketAddr;
  readonly data: Uint8Array;
}

export interface UdpStats {
  readonly rxDatagrams: number;
  readonly rxBytes: number;
  /** recvmmsg entries (a GRO super-datagram is one). */
  readonly rxBatches: number;
  readonly txDatagrams: number;
  readonly txBytes: number;
  /** sendmsg entries (a GSO batch is one). */
  readonly txBatches: number;
  /** Datagrams dropped because the send failed (e.g. unreachable); counted, logged at debug. */
  readonly txErrors: number;
  /** Receive-side backpressure: times the reader found the channel full (batched) / datagrams dropped (dgram). */
  readonly rxStalls: number;
  /** Batched backend with `gcStats`, after close: collections in the receive worker, total and longest pause (us). */
  readonly workerGc?: { readonly count: number; readonly micros: number; readonly maxMicros: number };
}

/**
 * The send queue of a socket: datagrams to the same (destination, segment size) are appended in place into
 * one pooled buffer and leave in one sendmmsg entry with UDP_SEGMENT (GSO). `flush()` runs once per event
 * loop tick (scheduled with setImmediate on the first append of a tick) or when called.
 */
export interface SendQueue {
  /**
   * A writable view of `maxLen` bytes in the batch for `dst`, where the caller writes (encrypts) one datagram
   * in place, then calls `commit(len)`. Only one reservation may be open at a time.
   */
  reserve(dst: SocketAddr, maxLen: number): Uint8Array;
  /** Appends the reserved datagram with its final length (`len <= maxLen`; 0 cancels). */
  commit(len: number): void;
  /** Copies `data` in (reserve + set + commit). */
  push(dst: SocketAddr, data: Uint8Array): void;
  /** Sends everything queued; returns the number of datagrams handed to the kernel. */
  flush(): number;
  /** Datagrams queued and not yet flushed. */
  readonly pending: number;
  /**
   * The owner flushes after every batch it queues (an event loop's turn): the queue stops arranging a flush of its
   * own on the first datagram of each tick (one setImmediate per tick saved). It still retries a flush the kernel
   * refused (socket busy) by itself.
   */
  ownerFlushes?(): void;
}

export interface UdpSocket {
  readonly backend: UdpBackend;
  readonly local: SocketAddr;
  readonly dualStack: boolean;
  /** UDP_SEGMENT in use on send. */
  readonly gso: boolean;
  /** UDP_GRO in use on receive. */
  readonly gro: boolean;
  readonly sendQueue: SendQueue;
  /** Waits for at least one datagram; GRO super-datagrams come split into their segments. [] once closed. */
  recvMany(max?: number): Promise<DatagramIn[]>;
  tryRecvMany(max?: number): DatagramIn[];
  /**
   * Resolves when datagrams may be there for `tryRecvMany`: at once if some are, else when some arrive, or after
   * a slice of waiting (check and wait again). Consumes nothing, so the caller may keep polling while it waits.
   * Rejects with CLOSED once the socket is closed, RECV_FAILED if receiving stopped. One waiter at a time.
   */
  readable(): Promise<unknown>;
  /** Parses `ip:port` / `[ip]:port` (or address + port) into a (cached) SocketAddr. */
  addr(address: string, port?: number): SocketAddr;
  stats(): UdpStats;
  /** Flushes the send queue, stops the receive worker (grace period), closes the fd. Idempotent. */
  close(): Promise<void>;
}

/** What the running kernel offers, probed once. */
export interface OffloadSupport {
  readonly gso: boolean;
  readonly gro: boolean;
  /** Largest number of segments one GSO send may carry. */
  readonly maxSegments: number;
}
