import type { Logger } from 'pino';

export interface TunOptions {
  /** Interface name, at most 15 characters; default `tun-postern`. */
  readonly name?: string;
  /** Number of queues (each one fd, one reader and one writer worker); default 1. */
  readonly queues?: number;
  /** Open with IFF_MULTI_QUEUE even with one queue; default: `queues > 1`. */
  readonly multiQueue?: boolean;
  /** Largest packet the channels carry (bytes); default 2048 (TUN MTU 1280 fits with room). */
  readonly maxPacketSize?: number;
  /** Packets each bounded channel holds, per direction per queue (power of two); default 1024. */
  readonly channelCapacity?: number;
  /**
   * The device's transmit queue (`txqueuelen`, packets the kernel holds for the reader; the kernel drops what
   * does not fit). Default: POSTERN_TUN_TXQUEUELEN, else 4096 (the kernel's 500 dropped UDP bursts the reader
   * drains a few ms later). 0 leaves the kernel's. Set with SIOCSIFTXQLEN; an explicit value that the kernel
   * refuses is an IOCTL_FAILED error, the default only a warning.
   */
  readonly txQueueLength?: number;
  /** Packets a reader collects before publishing them as one batch; default 64. */
  readonly readBatch?: number;
  /** How long close() waits for the workers, checked once; default 10 000 ms. */
  readonly shutdownGraceMs?: number;
  /** Workers' poll timeout: the longest a worker goes without checking its stop flag; default 100 ms. */
  readonly pollTimeoutMs?: number;
  /**
   * Open with IFF_VNET_HDR and enable TUN offloads (checksum, TSO4/6, and USO4/6 where the kernel takes
   * them): the reader splits the kernel's super-packets into MTU-sized packets and the writer coalesces
   * consecutive TCP segments of one flow into super-packets. Transparent to callers. Default: the
   * environment variable POSTERN_TUN_OFFLOADS (`1`/`true` on, `0`/`false` off), else on where the kernel
   * takes TUNSETOFFLOAD (measured ~4x faster for TCP through a TUN pair), off where it does not.
   */
  readonly offloads?: boolean;
  /**
   * The reader and writer workers record their garbage collections (node:v8 GCProfiler), reported as
   * `stats().workerGc` once they have exited (after close). Default: POSTERN_WORKER_GC_STATS=1.
   */
  readonly gcStats?: boolean;
  /**
   * Resolve openTun once the device is open and its workers are spawned (true: once they are running, the
   * default). Packets sent meanwhile wait in the outbound channels and the kernel queues inbound ones until the
   * workers run; a worker that fails to start rejects `started` and makes recvMany/sendReady throw WORKER_FAILED.
   * Lets a caller overlap the workers' start-up (~0.1 s CPU each) with its own (issue 11: set-up time).
   */
  readonly waitForWorkers?: boolean;
  readonly logger?: Logger;
}

export interface TunStats {
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly txPackets: number;
  readonly txBytes: number;
  /** Times a reader found its channel full and stopped reading until the main thread caught up. */
  readonly readerStalls: number;
  /** Packets queued outbound and not yet written to the device. */
  readonly txQueued: number;
  /** Packets the kernel refused on write (malformed, device down): counted, not retried. */
  readonly txErrors: number;
  /** Packets larger than `maxPacketSize` handed to send(): dropped (counted in txErrors too), never written. */
  readonly txTooLarge?: number;
  /** With offloads: packets read from the device and dropped because their virtio/IP headers were malformed. */
  readonly rxMalformed?: number;
  /** With offloads: super-packets read and split, and the packets they were split into. */
  readonly rxSuperPackets?: number;
  readonly rxSuperSegments?: number;
  /** With offloads: super-packets written, and the packets coalesced into them. */
  readonly txSuperPackets?: number;
  readonly txSuperSegments?: number;
  /** With `gcStats`, after close: collections in the workers' isolates, total and longest pause (us). */
  readonly workerGc?: { readonly count: number; readonly micros: number; readonly maxMicros: number };
}

export interface TunCloseReport {
  /** Outbound packets written during close (the flush). */
  readonly flushed: number;
  /** Outbound packets still queued when the grace period ran out (0 on a clean close). */
  readonly unflushed: number;
  /** Workers that had not exited at the deadline (0 on a clean close; a warning is logged otherwise). */
  readonly stuckWorkers: number;
  readonly durationMs: number;
}

/**
 * A TUN device (IP packets, no packet-info header).
 *
 * Received packets are views into shared memory; they stay valid until the next `recvMany`/`tryRecvMany`
 * call on this device (which releases them to the readers). Copy what you need to keep longer.
 */
export interface Tun {
  readonly name: string;
  readonly queues: number;
  /** The offloads enabled on the device: 'off', 'tso' (checksum + TSO4/6) or 'tso+uso' (also USO4/6). Optional for doubles. */
  readonly offloads?: 'off' | 'tso' | 'tso+uso';
  /** Resolves when the I/O workers are running; rejects with WORKER_FAILED if one fails to start. Optional for doubles. */
  readonly started?: Promise<void>;
  /** Waits for at least one packet and returns up to `max` (default 100). Returns [] once the device is closed. */
  recvMany(max?: number): Promise<Uint8Array[]>;
  /** Up to `max` packets already received, without waiting ([] if none). */
  tryRecvMany(max?: number): Uint8Array[];
  /**
   * Resolves when packets may be there for `tryRecvMany`: at once if some are, else when a reader publishes, or
   * after a slice of waiting (check and wait again). Consumes nothing, so the caller may keep polling while it
   * waits. Rejects with CLOSED once the device is closing, WORKER_FAILED if the readers stopped. One waiter at a time.
   */
  readable(): Promise<unknown>;
  /**
   * Copies packets, in order, into the outbound channels until one is full; returns how many were taken.
   * Packets of one flow always go to the same queue (so a flow keeps its order). A packet larger than
   * `maxPacketSize` is taken and dropped (`txTooLarge`). Throws CLOSED after close().
   */
  send(batch: readonly Uint8Array[]): number;
  /** Resolves when every outbound channel has room for at least `min` packets (default `readBatch`). Rejects with CLOSED after close(). */
  sendReady(min?: number): Promise<void>;
  /** send() plus sendReady() until every packet is taken. */
  sendAll(batch: readonly Uint8Array[]): Promise<void>;
  stats(): TunStats;
  /** Stops accepting sends, flushes queued outbound packets, stops and joins the workers (grace period), closes the fds. Idempotent. */
  close(): Promise<TunCloseReport>;
}
