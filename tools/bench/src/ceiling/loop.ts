// The ceiling loop: a measuring instrument of tools/bench, NOT shipped and not part of any app. It is the
// least a Node tunnel endpoint can do per packet on this machine, so that the bench can print "Postern / ceiling"
// from the same run: one thread, a TUN with IFF_VNET_HDR (TSO + checksum offloads) and a connected UDP socket
// with UDP_GRO, both non-blocking, waited on with poll(). TUN -> split the kernel's super-packet
// (splitPacket of libs/connlib/tun's offload functions) into slots of one native block -> seal each in place
// (frame.ts: fixed key, WireGuard's transport-data layout, Postern's EVP AEAD) -> sendmmsg, one entry per GSO
// run (UDP_SEGMENT over the slots' iovecs). UDP -> recvmmsg with GRO into native blocks -> open each segment
// in place -> coalesce (the same module's GRO) -> one TUN write per super-packet. No handshake, no routing,
// no replay window, no timers, no allocation per packet.
import type { Aead } from '@postern/wireguard';
// The very split/coalesce code the TUN workers run (plain ESM, exported as @postern/tun/offload).
import { MAX_SUPER_PACKET, VNET_HDR_LEN, coalesce, segmentCount, simdScratch, splitPacket, viewOf } from '@postern/tun/offload';
import { FRAME_OVERHEAD, frameCounters, frameLength, openFrame, sealFrame, type FrameCounters } from './frame';
import { GsoRuns } from './gso';
import { CMSG, EAGAIN, EINTR, IOV, MMSG, MSG_DONTWAIT, POLLIN, POLLOUT, SOL_UDP, UDP_GRO, UDP_SEGMENT, alloc, errno, libc, pinned, type Native } from './sys';

/** glibc's mmap threshold: smaller blocks come from the brk heap (small-integer addresses). */
const BRK_BLOCK = 120 * 1024;
/** Datagrams (GRO super-datagrams) per recvmmsg. */
const RX_BUFS = 16;
const RX_BUF = 65536;
/** UDP_SEGMENT limits: segments per send, bytes per send (a 16-bit UDP length; GsoQueue's figure). */
const GSO_SEGMENTS = 64;
const GSO_BYTES = 65000;
/** Super-packets read from the TUN before the socket gets a turn. */
const TUN_READS = 64;
/** Work per setImmediate (ms) before the event loop gets a turn (signals, stats). */
const TURN_MS = 20;

export interface LoopOptions {
  readonly tunFd: number;
  readonly udpFd: number;
  /** The TUN's MTU: the largest segment splitPacket makes. */
  readonly mtu: number;
  /** Seals what this side sends, opens what it receives. */
  readonly txAead: Aead;
  readonly rxAead: Aead;
  /** Receiver index written into sent frames (the peer's) and expected in received ones (ours). */
  readonly txIndex: number;
  readonly rxIndex: number;
  /**
   * Which directions this loop runs: `both` (one thread: TUN -> UDP and UDP -> TUN), `tx` (TUN -> UDP only) or
   * `rx` (UDP -> TUN only): the two-thread layout runs a `tx` loop and an `rx` loop on the same fds.
   */
  readonly directions: 'both' | 'tx' | 'rx';
}

export interface LoopStats {
  tunReads: number;
  tunSegments: number;
  tunMalformed: number;
  tunReadErrors: number;
  udpSent: number;
  udpSends: number;
  sendWaits: number;
  sendErrors: number;
  sendDropped: number;
  udpRecvs: number;
  udpDatagrams: number;
  udpRecvErrors: number;
  tunWrites: number;
  tunWriteErrors: number;
  rx: FrameCounters;
}

function putAddr(u32: Uint32Array, byteOff: number, addr: number): void {
  u32[byteOff >>> 2] = addr >>> 0;
  u32[(byteOff >>> 2) + 1] = Math.floor(addr / 0x1_0000_0000);
}

export class CeilingLoop {
  readonly stats: LoopStats = {
    tunReads: 0,
    tunSegments: 0,
    tunMalformed: 0,
    tunReadErrors: 0,
    udpSent: 0,
    udpSends: 0,
    sendWaits: 0,
    sendErrors: 0,
    sendDropped: 0,
    udpRecvs: 0,
    udpDatagrams: 0,
    udpRecvErrors: 0,
    tunWrites: 0,
    tunWriteErrors: 0,
    rx: frameCounters(),
  };
  private readonly c = libc();
  // TUN -> UDP
  private readonly tunBuf: Native;
  private readonly slots: number;
  private readonly tx: Native;
  private readonly slotViews: Uint8Array[] = [];
  private readonly offsFrom: Int32Array[] = [];
  private readonly lensFrom: Int32Array[] = [];
  private readonly lens: Int32Array;
  private readonly runs: GsoRuns;
  /** SLOTS mmsghdrs (one per run), SLOTS iovecs (one per slot), SLOTS cmsgs (one per run). */
  private readonly sendVec: Native;
  private readonly send32: Uint32Array;
  private readonly iovAt: number;
  private readonly cmsgAt: number;
  private txSlot = 0;
  private txCounter = 0;
  // UDP -> TUN
  private readonly rxBufs: Native[] = [];
  private readonly recvVec: Native;
  private readonly recv32: Uint32Array;
  private readonly rxCmsgAt: number;
  private readonly out: Native;
  private readonly pktOffs: Int32Array;
  private readonly pktLens: Int32Array;
  private readonly result = new Int32Array(2);
  // poll
  private readonly pollFds: Native;
  private readonly poll16: Int16Array;
  private readonly pollOut: Native;
  private readonly pollCount: number;
  private stopped = false;

  constructor(private readonly o: LoopOptions) {
    // read where the split's payload checksums run in WebAssembly SIMD, as in Postern's TUN reader
    this.tunBuf = pinned(simdScratch(VNET_HDR_LEN + MAX_SUPER_PACKET));
    const stride = (frameLength(o.mtu) + 63) & ~63;
    this.slots = Math.max(GSO_SEGMENTS, Math.floor(BRK_BLOCK / stride));
    this.tx = alloc(this.slots * stride);
    this.lens = new Int32Array(this.slots);
    const offs = new Int32Array(this.slots);
    for (let s = 0; s < this.slots; s++) {
      offs[s] = s * stride + FRAME_OVERHEAD / 2; // the IP packet behind the 16-byte header
      this.slotViews.push(this.tx.bytes.subarray(s * stride, (s + 1) * stride));
    }
    for (let s = 0; s < this.slots; s++) {
      this.offsFrom.push(offs.subarray(s));
      this.lensFrom.push(this.lens.subarray(s));
    }
    this.runs = new GsoRuns(this.slots, GSO_SEGMENTS, GSO_BYTES);
    this.sendVec = alloc(this.slots * (MMSG + IOV + CMSG));
    this.send32 = new Uint32Array(this.sendVec.bytes.buffer, this.sendVec.bytes.byteOffset, this.sendVec.bytes.length >>> 2);
    this.iovAt = this.slots * MMSG;
    this.cmsgAt = this.iovAt + this.slots * IOV;
    for (let s = 0; s < this.slots; s++) {
      putAddr(this.send32, this.iovAt + s * IOV, this.tx.address + s * stride);
      const cm = this.cmsgAt + s * CMSG;
      putAddr(this.send32, cm, 18); // cmsg_len = CMSG_LEN(sizeof(u16))
      this.send32[(cm + 8) >>> 2] = SOL_UDP;
      this.send32[(cm + 12) >>> 2] = UDP_SEGMENT;
    }

    for (let i = 0; i < RX_BUFS; i++) this.rxBufs.push(alloc(RX_BUF));
    this.recvVec = alloc(RX_BUFS * (MMSG + IOV + CMSG));
    this.recv32 = new Uint32Array(this.recvVec.bytes.buffer, this.recvVec.bytes.byteOffset, this.recvVec.bytes.length >>> 2);
    const rxIovAt = RX_BUFS * MMSG;
    this.rxCmsgAt = rxIovAt + RX_BUFS * IOV;
    for (let i = 0; i < RX_BUFS; i++) {
      const m = i * MMSG;
      putAddr(this.recv32, m + 16, this.recvVec.address + rxIovAt + i * IOV); // msg_iov
      putAddr(this.recv32, m + 24, 1); // msg_iovlen
      putAddr(this.recv32, m + 32, this.recvVec.address + this.rxCmsgAt + i * CMSG); // msg_control
      putAddr(this.recv32, rxIovAt + i * IOV, this.rxBufs[i]?.address ?? 0);
      putAddr(this.recv32, rxIovAt + i * IOV + 8, RX_BUF);
    }
    this.out = alloc(VNET_HDR_LEN + MAX_SUPER_PACKET);
    const perBuf = Math.ceil(RX_BUF / FRAME_OVERHEAD);
    this.pktOffs = new Int32Array(perBuf);
    this.pktLens = new Int32Array(perBuf);

    this.pollFds = alloc(16);
    this.poll16 = new Int16Array(this.pollFds.bytes.buffer, this.pollFds.bytes.byteOffset, 8);
    const p32 = new Int32Array(this.pollFds.bytes.buffer, this.pollFds.bytes.byteOffset, 4);
    // pollfd[0] is the source of the first direction, pollfd[1] (both directions only) the socket
    p32[0] = o.directions === 'rx' ? o.udpFd : o.tunFd;
    p32[2] = o.udpFd;
    this.poll16[2] = POLLIN;
    this.poll16[6] = POLLIN;
    this.pollCount = o.directions === 'both' ? 2 : 1;
    this.pollOut = alloc(8);
    new Int32Array(this.pollOut.bytes.buffer, this.pollOut.bytes.byteOffset, 2)[0] = o.udpFd;
    new Int16Array(this.pollOut.bytes.buffer, this.pollOut.bytes.byteOffset, 4)[2] = POLLOUT;
  }

  /** Whether the packet memory got small-integer addresses (the AEAD's fast path; see sys.ts alloc). */
  addresses(): { tx: number; rx: number } {
    return { tx: this.tx.address, rx: this.rxBufs[0]?.address ?? 0 };
  }

  /** Runs until stop(): work in slices of TURN_MS, then one setImmediate so that signals and timers run. */
  run(): Promise<void> {
    return new Promise((resolve) => {
      const turn = (): void => {
        if (this.stopped) {
          resolve();
          return;
        }
        const until = performance.now() + TURN_MS;
        const tx = this.o.directions !== 'rx';
        const rx = this.o.directions !== 'tx';
        do {
          const a = tx && this.pumpTun();
          const b = rx && this.pumpUdp();
          if (!a && !b) this.c.poll(this.pollFds.address, this.pollCount, TURN_MS);
        } while (performance.now() < until);
        setImmediate(turn);
      };
      setImmediate(turn);
    });
  }

  stop(): void {
    this.stopped = true;
  }

  /** TUN -> split -> seal -> GSO runs; true if anything was read. */
  pumpTun(): boolean {
    const c = this.c;
    const o = this.o;
    const tunBuf = this.tunBuf;
    let any = false;
    for (let i = 0; i < TUN_READS; i++) {
      const n = c.read(o.tunFd, tunBuf.address, tunBuf.bytes.length);
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        if (e !== EAGAIN) this.stats.tunReadErrors++;
        break;
      }
      any = true;
      this.stats.tunReads++;
      const count = segmentCount(tunBuf.bytes, n, o.mtu);
      if (count < 0) {
        this.stats.tunMalformed++;
        continue;
      }
      if (count > this.slots - this.txSlot) this.flushTx();
      const first = this.txSlot;
      const got = splitPacket(tunBuf.bytes, n, this.tx.bytes, this.offsFrom[first] ?? this.lens, this.lensFrom[first] ?? this.lens, o.mtu, this.slots - first);
      if (got < 0) {
        this.stats.tunMalformed++;
        continue;
      }
      const send32 = this.send32;
      for (let s = first; s < first + got; s++) {
        const view = this.slotViews[s];
        if (view === undefined) break;
        const len = sealFrame(o.txAead, view, 0, this.lens[s] ?? 0, o.txIndex, this.txCounter++);
        send32[(this.iovAt + s * IOV + 8) >>> 2] = len;
        this.runs.add(s, len);
      }
      this.txSlot = first + got;
      this.stats.tunSegments += got;
    }
    if (this.txSlot > 0) this.flushTx();
    return any;
  }

  /** One sendmmsg entry per GSO run; waits (poll POLLOUT) while the socket buffer is full. */
  private flushTx(): void {
    const runs = this.runs;
    const n = runs.length;
    const s32 = this.send32;
    const base = this.sendVec.address;
    for (let r = 0; r < n; r++) {
      const m = r * MMSG;
      const count = runs.count[r] ?? 1;
      putAddr(s32, m + 16, base + this.iovAt + (runs.start[r] ?? 0) * IOV); // msg_iov
      putAddr(s32, m + 24, count); // msg_iovlen
      if (count > 1) {
        const cm = this.cmsgAt + r * CMSG;
        putAddr(s32, m + 32, base + cm); // msg_control
        putAddr(s32, m + 40, CMSG); // msg_controllen
        s32[(cm + 16) >>> 2] = runs.seg[r] ?? 0; // the u16 segment size (little-endian low half)
      } else {
        putAddr(s32, m + 32, 0);
        putAddr(s32, m + 40, 0);
      }
      s32[(m + 48) >>> 2] = 0; // msg_flags
      this.stats.udpSent += count;
    }
    let sent = 0;
    let waits = 0;
    while (sent < n) {
      const k = this.c.sendmmsg(this.o.udpFd, base + sent * MMSG, n - sent, 0);
      if (k > 0) {
        sent += k;
        this.stats.udpSends++;
        waits = 0;
        continue;
      }
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN && waits < 10) {
        waits++;
        this.stats.sendWaits++;
        this.c.poll(this.pollOut.address, 1, 100);
        continue;
      }
      if (e === EAGAIN) {
        this.stats.sendDropped += n - sent;
        break;
      }
      this.stats.sendErrors++;
      sent++; // skip the refused run
    }
    runs.clear();
    this.txSlot = 0;
  }

  /** recvmmsg (GRO) -> open each segment -> coalesce -> TUN writes; true if anything was received. */
  pumpUdp(): boolean {
    const r32 = this.recv32;
    for (let i = 0; i < RX_BUFS; i++) {
      const m = i * MMSG;
      r32[(m + 40) >>> 2] = CMSG; // msg_controllen
      r32[(m + 44) >>> 2] = 0;
      r32[(m + 48) >>> 2] = 0; // msg_flags
    }
    const n = this.c.recvmmsg(this.o.udpFd, this.recvVec.address, RX_BUFS, MSG_DONTWAIT, 0);
    if (n < 0) {
      const e = errno();
      if (e === EINTR) return true;
      if (e !== EAGAIN) this.stats.udpRecvErrors++;
      return false;
    }
    this.stats.udpRecvs++;
    const o = this.o;
    for (let i = 0; i < n; i++) {
      const m = i * MMSG;
      const len = r32[(m + 56) >>> 2] ?? 0; // msg_len
      let seg = len;
      const cm = this.rxCmsgAt + i * CMSG;
      if ((r32[(m + 40) >>> 2] ?? 0) >= 20 && r32[(cm + 8) >>> 2] === SOL_UDP && r32[(cm + 12) >>> 2] === UDP_GRO) seg = r32[(cm + 16) >>> 2] ?? len;
      if (seg <= 0) seg = len;
      const buf = this.rxBufs[i];
      if (buf === undefined) break;
      let pk = 0;
      for (let off = 0; off < len; off += seg) {
        this.stats.udpDatagrams++;
        const flen = Math.min(seg, len - off);
        // One reused view per frame position: where the block's address is large (a worker's malloc arena) the
        // AEAD passes views, kept per view (no allocation in steady state); small addresses go as numbers.
        const ip = openFrame(o.rxAead, viewOf(buf.bytes, off, off + flen), 0, flen, o.rxIndex, this.stats.rx);
        if (ip <= 0) continue;
        this.pktOffs[pk] = off + FRAME_OVERHEAD / 2;
        this.pktLens[pk] = ip;
        pk++;
      }
      this.writeTun(buf.bytes, pk);
    }
    return true;
  }

  /** Coalesces the opened packets of one super-datagram into TUN writes. */
  private writeTun(buf: Uint8Array, count: number): void {
    const res = this.result;
    for (let start = 0; start < count; ) {
      coalesce(buf, this.pktOffs, this.pktLens, start, count - start, this.out.bytes, res);
      const bytes = res[1] ?? 0;
      if (bytes > 0) {
        if (this.c.write(this.o.tunFd, this.out.address, bytes) < 0) this.stats.tunWriteErrors++;
        else this.stats.tunWrites++;
      }
      start += Math.max(1, res[0] ?? 1);
    }
  }
}
