// The offload functions the TUN workers run (src/offload.worker.mjs), against an independent reference:
// splitting the kernel's TSO/USO super-packets, completing partial checksums, coalescing TCP segments and
// UDP datagrams, and typed error codes for malformed input.
import fc from 'fast-check';
import koffi from 'koffi';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MAX_SUPER_PACKET,
  MAX_UDP_SEGMENTS,
  OFFLOAD_BAD_IP,
  OFFLOAD_BAD_VNET,
  OFFLOAD_SHORT,
  OFFLOAD_TOO_BIG,
  OFFLOAD_TOO_MANY,
  VNET_HDR_LEN,
  coalesce,
  segmentCount,
  simdScratch,
  splitPacket,
  memcpyInto,
  sum16,
  fold16,
  checksumBackend,
} from '../../src/offload.worker.mjs';
import { steadyAllocations } from '@postern/testing';
import { offloadsFromEnv } from '../../src/linux-tun';
import { ACK, CWR, FIN, PSH, SYN, V4, V6, parseVnet, pseudo, refSum, tcpPacket, tcpSuper, udpPacket, udpSuper, verify, vnetHdr, type Ip, type Tcp } from '../support/tcp';

const SLOT = 2048;

/** Where split() hands its input from (the SOURCES below). */
let source = (b: Uint8Array): Uint8Array => b;
/** How split()'s bytes move (undefined: splitPacket's own dst.set; the SOURCES below). */
type Copier = (src: Uint8Array, dst: Uint8Array) => (dstOff: number, srcOff: number, len: number) => void;
let copier: Copier | undefined;

function split(input: Uint8Array, maxSize = SLOT, maxCount = 1024): Uint8Array[] | number {
  const src = source(input);
  const dst = copier === undefined ? new Uint8Array(maxCount * maxSize) : new Uint8Array(new SharedArrayBuffer(maxCount * maxSize));
  const offs = Array.from({ length: maxCount }, (_, i) => i * maxSize);
  const lens = new Int32Array(maxCount);
  const n = splitPacket(src, src.length, dst, offs, lens, maxSize, maxCount, copier?.(src, dst));
  if (n < 0) return n;
  return Array.from({ length: n }, (_, i) => dst.slice(offs[i], (offs[i] ?? 0) + (lens[i] ?? 0)));
}

function splitOk(src: Uint8Array, maxSize = SLOT): Uint8Array[] {
  const r = split(src, maxSize);
  if (typeof r === 'number') throw new Error(`split failed: ${r}`);
  return r;
}

/** Runs coalesce over a whole list of packets; returns the writes (virtio header + packet). */
function coalesceAll(packets: readonly Uint8Array[], outSize = VNET_HDR_LEN + MAX_SUPER_PACKET, udp = false): Uint8Array[] {
  const buf = new Uint8Array(packets.length * SLOT);
  const offs: number[] = [];
  const lens: number[] = [];
  packets.forEach((p, i) => {
    buf.set(p, i * SLOT);
    offs.push(i * SLOT);
    lens.push(p.length);
  });
  const out = new Uint8Array(outSize);
  const res = new Int32Array(3);
  const head = new Uint8Array(outSize);
  const gathered = new Int32Array(3);
  const ranges = new Int32Array(2 * packets.length);
  const writes: Uint8Array[] = [];
  for (let k = 0; k < packets.length; ) {
    coalesce(buf, offs, lens, k, packets.length - k, out, res, udp);
    expect(res[0]).toBeGreaterThanOrEqual(1);
    writes.push(out.slice(0, res[1]));
    // gather mode (the TUN writer's writev): the head in `head`, the rest as ranges of `buf`: the very same write
    coalesce(buf, offs, lens, k, packets.length - k, head, gathered, udp, ranges);
    expect([gathered[0], gathered[1]]).toEqual([res[0], res[1]]);
    expect(gathered[2]).toBe((res[1] ?? 0) === 0 ? 0 : (res[0] ?? 1) - 1);
    expect(res[2]).toBe(0);
    const parts = [head.subarray(0, VNET_HDR_LEN + (lens[k] ?? 0))];
    for (let r = 0; r < (gathered[2] ?? 0); r++) parts.push(buf.subarray(ranges[2 * r], (ranges[2 * r] ?? 0) + (ranges[2 * r + 1] ?? 0)));
    if ((res[1] ?? 0) > 0) expect(Buffer.from(concat(parts)).equals(Buffer.from(out.subarray(0, res[1])))).toBe(true);
    k += res[0] ?? 1;
  }
  return writes;
}

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Segments a payload the way a TCP sender does: consecutive MSS-sized segments. */
function segments(ip: Ip, t: Tcp, payload: Uint8Array, mss: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0, i = 0; o < payload.length; o += mss, i++) {
    const ipi = ip.v6 ? ip : { ...ip, id: ((ip.id ?? 0) + i) & 0xffff };
    out.push(tcpPacket(ipi, { ...t, seq: (t.seq + o) >>> 0 }, payload.subarray(o, Math.min(payload.length, o + mss))));
  }
  return out;
}

describe('sum16', () => {
  it('in simdScratch: WebAssembly SIMD, equal to the byte-by-byte reference for any offset and length up to 64 KiB', () => {
    expect(checksumBackend()).toBe('wasm-simd'); // Node 20+ has WebAssembly SIMD: the JS loop here would be a regression
    const scratch = simdScratch(MAX_SUPER_PACKET + VNET_HDR_LEN);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.nat(MAX_SUPER_PACKET - 3000), fc.nat(0xffff), (data, off, init) => {
        scratch.set(data, off);
        const got = fold16(sum16(scratch, off, data.length, init));
        expect(got % 0xffff).toBe(fold16(refSum([data]) + init) % 0xffff);
      }),
      { numRuns: 500 },
    );
    // the largest: a whole super-packet of 0xff bytes (every lane at its maximum), at an odd offset
    scratch.fill(0xff);
    expect(fold16(sum16(scratch, 1, MAX_SUPER_PACKET, 0)) % 0xffff).toBe(fold16(refSum([scratch.subarray(1, 1 + MAX_SUPER_PACKET)])) % 0xffff);
    // out of bounds: the JS path's answer (no WebAssembly trap)
    expect(() => sum16(scratch, scratch.length - 10, 20, 0)).not.toThrow();
  });

  it('equals the byte-by-byte reference for any offset, length and alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.nat(7), fc.nat(3000), fc.nat(0xffff), (data, shift, want, init) => {
        const buf = new Uint8Array(data.length + 8);
        buf.set(data, shift);
        const view = buf.subarray(shift, shift + data.length);
        const off = Math.min(want % 5, view.length);
        const len = Math.min(want, view.length - off);
        const got = fold16(sum16(view, off, len, init));
        const ref = fold16(refSum([view.subarray(off, off + len)]) + init);
        // 0 and 0xffff are the same number in one's complement.
        expect(got % 0xffff).toBe(ref % 0xffff);
      }),
    );
  });

  it('stays exact over runs of many accumulator chunks (2^14 words each), from a shared buffer', () => {
    // 4 MiB + 6 bytes of 0xf0..0xff: 64 chunks, each folded; one unfolded small-integer sum would overflow 2^31.
    const len = 4 * 1024 * 1024 + 6;
    const buf = new Uint8Array(new SharedArrayBuffer(len + 8));
    let x = 0x9e3779b9;
    for (let i = 0; i < buf.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      buf[i] = 0xf0 | (x >>> 28);
    }
    let ref = 0;
    for (let i = 2; i + 1 < 2 + len; i += 2) {
      ref += ((buf[i] ?? 0) << 8) | (buf[i + 1] ?? 0);
      if (ref > 0xffff) ref = (ref & 0xffff) + (ref >>> 16);
    }
    // offset 2: a 2-byte head before the aligned words, then 2^20 + 1 words, then a 2-byte tail
    expect(fold16(sum16(buf, 2, len, 0)) % 0xffff).toBe(ref % 0xffff);
  });
});

// The TUN reader's copy: libc's memcpy between the addresses (memmove(p, p, 0) returns p).
const libc = koffi.load('libc.so.6');
const memcpy = libc.func('uintptr_t memcpy(uintptr_t dst, void *src, size_t n)') as (d: number, s: Uint8Array, n: number) => unknown;
const addressOf = libc.func('uintptr_t memmove(void *dst, void *src, size_t n)') as (a: Uint8Array, b: Uint8Array, n: number) => number | bigint;
const byMemcpy: Copier = (src, dst) => memcpyInto(memcpy, Number(addressOf(dst, dst, 0)), src);

// Each split runs from a plain buffer and from simdScratch, the TUN reader's, where the payloads' checksums are
// WebAssembly SIMD, and as the reader runs it (simdScratch into a SharedArrayBuffer by memcpy): the same packets
// every way.
const SOURCES: { kind: string; put: (b: Uint8Array) => Uint8Array; copy?: Copier }[] = [
  { kind: 'a plain buffer', put: (b: Uint8Array): Uint8Array => b },
  {
    kind: 'simdScratch into a SharedArrayBuffer by memcpy (the TUN reader)',
    put: (b: Uint8Array): Uint8Array => {
      const s = simdScratch(b.length);
      s.set(b);
      return s;
    },
    copy: byMemcpy,
  },
  {
    kind: 'simdScratch (checksums in WebAssembly SIMD)',
    put: (b: Uint8Array): Uint8Array => {
      const s = simdScratch(b.length);
      s.set(b);
      return s;
    },
  },
];

describe.each(SOURCES)('splitPacket from $kind', ({ put, copy }) => {
  beforeEach(() => {
    source = put;
    copier = copy;
  });
  afterEach(() => {
    source = (b) => b;
    copier = undefined;
  });

  describe('TSO super-packets', () => {
    it.each([
      { label: 'IPv4', ip: V4 },
      { label: 'IPv6', ip: V6 },
    ])('$label: MSS-sized segments with correct lengths, ids, sequence numbers, flags and checksums', ({ ip }) => {
      const payload = bytes(10_000);
      const t: Tcp = { sport: 40000, dport: 5201, seq: 0xfffff000, ack: 77, flags: ACK | PSH | FIN | CWR, options: Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2) };
      const segs = splitOk(tcpSuper(ip, t, payload, 1388));
      expect(segs.length).toBe(Math.ceil(10_000 / 1388));
      let seq = t.seq;
      segs.forEach((s, i) => {
        const v = verify(s);
        expect(v).toMatchObject({ ipOk: true, l4Ok: true, lengthOk: true, seq: seq >>> 0 });
        if (!ip.v6) expect(v.id).toBe(100 + i);
        const last = i === segs.length - 1;
        expect(v.flags).toBe(ACK | (last ? PSH | FIN : 0) | (i === 0 ? CWR : 0));
        expect(v.payload.length).toBe(last ? 10_000 - 1388 * i : 1388);
        seq += v.payload.length;
      });
      expect(concat(segs.map((s) => verify(s).payload))).toEqual(payload);
    });

    it('any payload and gso_size: the segments put back together are the payload, each checksum valid', () => {
      fc.assert(
        fc.property(fc.boolean(), fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 20, max: 1460 }), fc.nat(0xffffffff), (v6, size, gso, seq) => {
          const payload = bytes(size, seq);
          const segs = splitOk(tcpSuper(v6 ? V6 : V4, { sport: 1, dport: 2, seq }, payload, gso));
          expect(segs.length).toBe(Math.ceil(size / gso));
          for (const s of segs) expect(verify(s)).toMatchObject({ ipOk: true, l4Ok: true, lengthOk: true });
          expect(concat(segs.map((s) => verify(s).payload))).toEqual(payload);
        }),
        { numRuns: 60 },
      );
    });

    it('wraps the IPv4 id at 65535', () => {
      const segs = splitOk(tcpSuper({ ...V4, id: 65534 }, { sport: 1, dport: 2, seq: 5 }, bytes(3000), 1000));
      expect(segs.map((s) => verify(s).id)).toEqual([65534, 65535, 0]);
    });

    it('a super-packet with no payload beyond gso_size is one packet', () => {
      const segs = splitOk(tcpSuper(V4, { sport: 1, dport: 2, seq: 5 }, bytes(500), 1000));
      expect(segs.length).toBe(1);
      expect(verify(segs[0] ?? new Uint8Array())).toMatchObject({ ipOk: true, l4Ok: true, lengthOk: true });
    });
  });

  describe('USO and partial checksums', () => {
    it.each([V4, V6])('USO super-packet: UDP datagrams of gso_size with lengths and checksums (%#)', (ip) => {
      const payload = bytes(5000);
      const segs = splitOk(udpSuper(ip, 51820, 52625, payload, 1200));
      expect(segs.length).toBe(5);
      for (const s of segs) expect(verify(s)).toMatchObject({ ipOk: true, l4Ok: true, lengthOk: true });
      expect(concat(segs.map((s) => verify(s).payload))).toEqual(payload);
    });

    it('completes a partial checksum (NEEDS_CSUM, no GSO) for TCP and UDP', () => {
      for (const [pkt, off] of [
        [tcpPacket(V4, { sport: 1, dport: 2, seq: 3 }, bytes(333)), 16],
        [udpPacket(V6, 1, 2, bytes(100)), 6],
      ] as const) {
        const ihl = (pkt[0] ?? 0) >> 4 === 6 ? 40 : 20;
        const partial = pkt.slice();
        const ip: Ip = ihl === 40 ? { v6: true, src: pkt.slice(8, 24), dst: pkt.slice(24, 40) } : { v6: false, src: pkt.slice(12, 16), dst: pkt.slice(16, 20) };
        const ps = pseudo(ip, off === 16 ? 6 : 17, pkt.length - ihl);
        partial[ihl + off] = ps >> 8;
        partial[ihl + off + 1] = ps & 0xff;
        const segs = splitOk(concat([vnetHdr({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: ihl, csumOffset: off }), partial]));
        expect(segs).toEqual([pkt]);
      }
    });

    it('passes a plain packet (zero header) through unchanged', () => {
      const pkt = udpPacket(V4, 1, 2, bytes(77));
      expect(splitOk(concat([new Uint8Array(10), pkt]))).toEqual([pkt]);
    });
  });
});

describe('memcpyInto (the TUN reader copy hook)', () => {
  // 96 KiB: under glibc's mmap threshold, so from malloc's heap, below 2^31 as the apps' rings (unless the heap
  // cannot grow: bin-shared's heapRoom; then the test is skipped, for a computed address would be a heap number).
  const ring = new Uint8Array(new SharedArrayBuffer(48 * SLOT));
  const ringAddr = Number(addressOf(ring, ring, 0));
  it.runIf(ringAddr < 2 ** 31)('allocates nothing per packet splitting from simdScratch into a ring below 2^31', async () => {
    const input = tcpSuper(V4, { sport: 40000, dport: 5201, seq: 1, ack: 77, flags: ACK, options: new Uint8Array(0) }, bytes(40_000), 1228);
    const src = simdScratch(input.length);
    src.set(input);
    const offs = Array.from({ length: 48 }, (_, i) => i * SLOT);
    const lens = new Int32Array(48);
    const copy = memcpyInto(memcpy, ringAddr, src);
    const run = (times: number): void => {
      for (let i = 0; i < times; i++) if (splitPacket(src, input.length, ring, offs, lens, SLOT, 48, copy) !== 33) throw new Error('split failed');
    };
    run(2_000);
    expect(verify(ring.slice(32 * SLOT, 32 * SLOT + (lens[32] ?? 0)))).toMatchObject({ ipOk: true, l4Ok: true, lengthOk: true });
    const report = await steadyAllocations(() => {
      run(3_000);
    }, 3_000 * 33);
    // the scratch's address as a number: 16 B per copy (a heap number), 528 B per split here
    expect(report.bytes / (3_000 * 33), report.top.join('\n')).toBeLessThan(1);
  });
});

describe('splitPacket: malformed input is a typed error code, never a throw', () => {
  const good = tcpSuper(V4, { sport: 1, dport: 2, seq: 3 }, bytes(4000), 1000);
  const patch = (at: number, ...v: number[]): Uint8Array => {
    const b = good.slice();
    b.set(v, at);
    return b;
  };
  it.each([
    { label: 'shorter than the virtio header', src: good.subarray(0, 9), code: OFFLOAD_SHORT },
    { label: 'virtio header only, GSO', src: good.subarray(0, 10), code: OFFLOAD_SHORT },
    { label: 'virtio header only, no GSO (found by the fuzzer)', src: new Uint8Array(10), code: OFFLOAD_SHORT },
    { label: 'headers cut short', src: good.subarray(0, 40), code: OFFLOAD_SHORT },
    { label: 'unknown gso_type', src: patch(1, 2), code: OFFLOAD_BAD_VNET },
    { label: 'UFO (gso_type UDP)', src: patch(1, 3), code: OFFLOAD_BAD_VNET },
    { label: 'unknown flag bits', src: patch(0, 0x11), code: OFFLOAD_BAD_VNET },
    { label: 'GSO without NEEDS_CSUM', src: patch(0, 0), code: OFFLOAD_BAD_VNET },
    { label: 'gso_size 0', src: patch(4, 0, 0), code: OFFLOAD_BAD_VNET },
    { label: 'csum_offset not TCP', src: patch(8, 6, 0), code: OFFLOAD_BAD_VNET },
    { label: 'TCPV6 on an IPv4 packet', src: patch(1, 4), code: OFFLOAD_BAD_IP },
    { label: 'USO on a TCP packet', src: patch(1, 5), code: OFFLOAD_BAD_IP },
    { label: 'csum_start not the IP header length', src: patch(6, 24, 0), code: OFFLOAD_BAD_IP },
    { label: 'IP version 5', src: patch(10, 0x55), code: OFFLOAD_BAD_IP },
    { label: 'IPv4 IHL < 5', src: patch(10, 0x44), code: OFFLOAD_BAD_IP },
    { label: 'TCP data offset < 5', src: patch(10 + 20 + 12, 0x40), code: OFFLOAD_BAD_IP },
    { label: 'TCP data offset past the end', src: patch(10 + 20 + 12, 0xf0).subarray(0, 60), code: OFFLOAD_SHORT },
    { label: 'partial checksum offset beyond the packet', src: concat([vnetHdr({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 100, csumOffset: 16 }), bytes(100)]), code: OFFLOAD_BAD_VNET },
  ])('$label', ({ src, code }) => {
    expect(segmentCount(src, src.length, SLOT)).toBe(code);
    expect(split(src)).toBe(code);
  });

  it('segments larger than a slot: TOO_BIG; more segments than room: TOO_MANY; n beyond the buffer: SHORT', () => {
    expect(split(good, 1000)).toBe(OFFLOAD_TOO_BIG);
    expect(split(concat([new Uint8Array(10), bytes(3000)]), 2048)).toBe(OFFLOAD_TOO_BIG);
    expect(split(good, SLOT, 3)).toBe(OFFLOAD_TOO_MANY);
    expect(segmentCount(good, good.length + 1, SLOT)).toBe(OFFLOAD_SHORT);
  });
});

describe('coalesce (GRO on the write path)', () => {
  const t: Tcp = { sport: 5201, dport: 40000, seq: 1000, ack: 9, options: Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2) };

  it.each([
    { label: 'IPv4', ip: V4 },
    { label: 'IPv6', ip: V6 },
  ])('$label: consecutive in-order segments of one flow become one TSO write that splits back into them', ({ ip }) => {
    const payload = bytes(30_000);
    const segs = segments(ip, { ...t, flags: ACK }, payload, 1200);
    const writes = coalesceAll(segs);
    expect(writes.length).toBe(1);
    const w = writes[0] ?? new Uint8Array();
    const h = parseVnet(w);
    const ihl = ip.v6 ? 40 : 20;
    expect(h).toEqual({ flags: 1, gsoType: ip.v6 ? 4 : 1, hdrLen: ihl + 32, gsoSize: 1200, csumStart: ihl, csumOffset: 16 });
    // The checksum field holds the pseudo-header sum (the kernel completes it), lengths cover the whole.
    const pkt = w.subarray(10);
    const dv = new DataView(pkt.buffer, pkt.byteOffset);
    expect(dv.getUint16(ihl + 16)).toBe(pseudo(ip, 6, pkt.length - ihl));
    if (!ip.v6) expect(refSum([pkt.subarray(0, 20)])).toBe(0xffff);
    // What the kernel would do with it: segment it again, which gives back the original packets.
    expect(splitOk(w)).toEqual(segs);
  });

  it('any segmentation of a stream round-trips through coalesce + split (fast-check)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 1, max: 40_000 }), fc.integer({ min: 100, max: 1400 }), fc.nat(0xffffffff), fc.boolean(), (v6, size, mss, seq, push) => {
        const segs = segments(v6 ? V6 : V4, { ...t, seq, flags: ACK }, bytes(size, seq), mss);
        // The last one may carry PSH.
        if (push) {
          const last = segs.length - 1;
          const s = verify(segs[last] ?? new Uint8Array());
          segs[last] = tcpPacket(v6 ? V6 : { ...V4, id: (100 + last) & 0xffff }, { ...t, seq: s.seq, flags: ACK | PSH }, s.payload);
        }
        const writes = coalesceAll(segs);
        const back = writes.flatMap((w) => splitOk(w));
        expect(back).toEqual(segs);
        for (const w of writes) expect(w.length).toBeLessThanOrEqual(10 + MAX_SUPER_PACKET);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps 64 KiB super-packets: 60 000 bytes of 1000-byte segments fill one write up to 65 535 bytes', () => {
    const segs = segments(V4, { ...t, flags: ACK, options: new Uint8Array(0) }, bytes(100_000), 1000);
    const writes = coalesceAll(segs);
    for (const w of writes) expect(w.length - 10).toBeLessThanOrEqual(65535);
    expect(writes.length).toBe(2);
    expect(parseVnet(writes[0] ?? new Uint8Array()).gsoType).toBe(1);
    expect(writes.flatMap((w) => splitOk(w))).toEqual(segs);
  });

  it('caps the super-packet at the size of the output buffer', () => {
    const segs = segments(V4, { ...t, flags: ACK }, bytes(12_000), 1000);
    const writes = coalesceAll(segs, 10 + 4200);
    expect(writes.map((w) => w.length)).toEqual([10 + 52 + 4000, 10 + 52 + 4000, 10 + 52 + 4000]);
  });

  const base = (): Uint8Array[] => segments(V4, { ...t, flags: ACK }, bytes(4000), 1000);
  const change = (i: number, f: (p: Uint8Array) => void): Uint8Array[] => {
    const s = base();
    const p = s[i] ?? new Uint8Array();
    f(p);
    return s;
  };
  const rebuilt = (i: number, ip: Partial<Ip>, tcp: Partial<Tcp>, size = 1000): Uint8Array[] => {
    const s = base();
    s[i] = tcpPacket({ ...V4, id: 100 + i, ...ip }, { ...t, flags: ACK, seq: t.seq + i * 1000, ...tcp }, bytes(4000).subarray(i * 1000, i * 1000 + size));
    return s;
  };
  it.each([
    { label: 'a sequence gap', segs: rebuilt(2, {}, { seq: t.seq + 2 * 1000 + 1 }), groups: [2, 1, 1] },
    { label: 'a retransmission (same sequence number twice)', segs: [...base().slice(0, 2), ...base().slice(1)], groups: [2, 3] },
    { label: 'another flow (port) in between', segs: rebuilt(2, {}, { sport: 9 }), groups: [2, 1, 1] },
    { label: 'another destination', segs: rebuilt(1, { dst: Uint8Array.of(198, 18, 8, 9) }, {}), groups: [1, 1, 2] },
    { label: 'PSH in the middle ends the group after it', segs: rebuilt(1, {}, { flags: ACK | PSH }), groups: [2, 2] },
    { label: 'a shorter segment in the middle ends the group after it', segs: rebuilt(1, {}, {}, 500).slice(0, 2), groups: [2] },
    { label: 'a larger segment than the first', segs: rebuilt(1, {}, {}, 1000).map((p, i) => (i === 0 ? tcpPacket({ ...V4, id: 100 }, { ...t, flags: ACK }, bytes(500)) : p)), groups: [1, 3] },
    { label: 'SYN', segs: rebuilt(0, {}, { flags: SYN | ACK }), groups: [1, 3] },
    { label: 'FIN', segs: rebuilt(3, {}, { flags: FIN | ACK }), groups: [3, 1] },
    { label: 'a different ack', segs: rebuilt(2, {}, { ack: 10 }), groups: [2, 1, 1] },
    { label: 'a different window', segs: rebuilt(2, {}, { window: 1 }), groups: [2, 1, 1] },
    { label: 'different options (timestamps)', segs: rebuilt(2, {}, { options: Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 2) }), groups: [2, 1, 1] },
    { label: 'a different TTL', segs: rebuilt(2, { ttl: 3 }, {}), groups: [2, 1, 1] },
    { label: 'a different TOS', segs: rebuilt(2, { tos: 4 }, {}), groups: [2, 1, 1] },
    { label: 'an IPv4 fragment', segs: change(1, (p) => { p[6] = 0x20; }), groups: [1, 1, 2] },
    { label: 'an IPv4 total length that disagrees', segs: change(3, (p) => { p[3] = 0; }), groups: [3, 1] },
    { label: 'a UDP datagram', segs: [udpPacket(V4, 1, 2, bytes(100)), ...base()], groups: [1, 4] },
    { label: 'garbage', segs: [bytes(3), bytes(0), ...base()], groups: [1, 1, 4] },
  ])('does not merge across $label', ({ segs, groups }) => {
    const writes = coalesceAll(segs);
    const sizes = writes.map((w) => {
      const h = parseVnet(w);
      if (h.gsoType === 0) {
        expect(h).toEqual({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
        return 1;
      }
      return splitOk(w).length;
    });
    expect(sizes).toEqual(groups);
    // Every packet is written exactly once, unchanged or as part of a super-packet that splits back into it.
    expect(writes.flatMap((w) => (parseVnet(w).gsoType === 0 ? [w.subarray(10)] : splitOk(w)))).toEqual(segs);
  });

  it('sets PSH on the super-packet when its last segment had it', () => {
    const s = base();
    s[3] = tcpPacket({ ...V4, id: 103 }, { ...t, flags: ACK | PSH, seq: t.seq + 3000 }, bytes(4000).subarray(3000));
    const w = coalesceAll(s);
    expect(w.length).toBe(1);
    expect(w[0]?.[10 + 20 + 13]).toBe(ACK | PSH);
  });

  it('reports a packet larger than the output buffer as 0 bytes to write (skipped), never throws', () => {
    const buf = new Uint8Array(4096);
    const res = new Int32Array(2);
    coalesce(buf, [0], [4000], 0, 1, new Uint8Array(1000), res);
    expect(Array.from(res)).toEqual([1, 0]);
    coalesce(buf, [4000], [200], 0, 1, new Uint8Array(70_000), res);
    expect(Array.from(res)).toEqual([1, 0]);
    coalesce(buf, [0], [-5], 0, 1, new Uint8Array(70_000), res);
    expect(Array.from(res)).toEqual([1, 0]);
  });
});

describe('POSTERN_TUN_OFFLOADS', () => {
  it('parses 1/true/0/false, unset means the default, anything else is INVALID_ARGUMENT', () => {
    expect([offloadsFromEnv('1'), offloadsFromEnv('true'), offloadsFromEnv('0'), offloadsFromEnv('false')]).toEqual([true, true, false, false]);
    expect(offloadsFromEnv(undefined)).toBeUndefined();
    expect(offloadsFromEnv('')).toBeUndefined();
    expect(() => offloadsFromEnv('yes')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('coalesce UDP (USO on the write path, devices that took TUN_F_USO4/6)', () => {
  /** `n` datagrams of one flow, `size` payload bytes each (the last `last` bytes), IPv4 ids counting up. */
  const flow = (ip: Ip, n: number, size: number, last = size, sport = 4000): Uint8Array[] =>
    Array.from({ length: n }, (_, i) => udpPacket(ip.v6 ? ip : { ...ip, id: (500 + i) & 0xffff }, sport, 5201, bytes(i === n - 1 ? last : size, i)));
  const groups = (writes: readonly Uint8Array[]): number[] => writes.map((w) => (parseVnet(w).gsoType === 0 ? 1 : splitOk(w).length));
  const unpacked = (writes: readonly Uint8Array[]): Uint8Array[] => writes.flatMap((w) => (parseVnet(w).gsoType === 0 ? [w.subarray(10)] : splitOk(w)));

  it.each([
    { label: 'IPv4', ip: V4 },
    { label: 'IPv6', ip: V6 },
  ])('$label: same-size datagrams of one flow (the last shorter) become one GSO_UDP_L4 write that splits back into them', ({ ip }) => {
    const dgrams = flow(ip, 20, 1200, 333);
    const writes = coalesceAll(dgrams, undefined, true);
    expect(writes.length).toBe(1);
    const w = writes[0] ?? new Uint8Array();
    const ihl = ip.v6 ? 40 : 20;
    expect(parseVnet(w)).toEqual({ flags: 1, gsoType: 5, hdrLen: ihl + 8, gsoSize: 1200, csumStart: ihl, csumOffset: 6 });
    const pkt = w.subarray(10);
    const dv = new DataView(pkt.buffer, pkt.byteOffset);
    expect(pkt.length).toBe(ihl + 8 + 19 * 1200 + 333);
    expect(dv.getUint16(ihl + 4)).toBe(pkt.length - ihl); // the UDP length of the whole write
    expect(dv.getUint16(ihl + 6)).toBe(pseudo(ip, 17, pkt.length - ihl)); // the kernel completes each datagram's sum
    if (!ip.v6) expect(refSum([pkt.subarray(0, 20)])).toBe(0xffff);
    expect(splitOk(w)).toEqual(dgrams);
  });

  it('only where asked: without the USO flag every datagram is its own write', () => {
    const dgrams = flow(V4, 5, 1000);
    expect(groups(coalesceAll(dgrams))).toEqual([1, 1, 1, 1, 1]);
  });

  it(`at most ${String(MAX_UDP_SEGMENTS)} datagrams and 65,535 bytes per write`, () => {
    expect(groups(coalesceAll(flow(V4, 150, 100), undefined, true))).toEqual([64, 64, 22]);
    const big = flow(V4, 120, 1400);
    const writes = coalesceAll(big, undefined, true);
    for (const w of writes) expect(w.length - 10).toBeLessThanOrEqual(65535);
    expect(groups(writes)).toEqual([46, 46, 28]);
    expect(unpacked(writes)).toEqual(big);
  });

  it('any run of datagrams round-trips through coalesce + split (fast-check)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.record({ size: fc.integer({ min: 1, max: 1400 }), sport: fc.constantFrom(1, 2), n: fc.integer({ min: 1, max: 70 }) }), { minLength: 1, maxLength: 6 }), (v6, runs) => {
        const dgrams = runs.flatMap((r) => flow(v6 ? V6 : V4, r.n, r.size, r.size, r.sport));
        const writes = coalesceAll(dgrams, undefined, true);
        expect(unpacked(writes).map((p) => verify(p).payload)).toEqual(dgrams.map((p) => verify(p).payload));
        expect(unpacked(writes).length).toBe(dgrams.length);
        for (const w of writes) expect(w.length).toBeLessThanOrEqual(10 + MAX_SUPER_PACKET);
      }),
      { numRuns: 25 },
    );
  });

  const four = (): Uint8Array[] => flow(V4, 4, 1000);
  const with_ = (i: number, p: Uint8Array): Uint8Array[] => {
    const s = four();
    s[i] = p;
    return s;
  };
  it.each([
    { label: 'another source port in between', dgrams: with_(2, udpPacket({ ...V4, id: 502 }, 9, 5201, bytes(1000, 2))), groups: [2, 1, 1] },
    { label: 'another destination', dgrams: with_(1, udpPacket({ ...V4, id: 501, dst: Uint8Array.of(198, 18, 8, 9) }, 4000, 5201, bytes(1000, 1))), groups: [1, 1, 2] },
    { label: 'a shorter datagram in the middle ends the write after it', dgrams: with_(1, udpPacket({ ...V4, id: 501 }, 4000, 5201, bytes(10, 1))), groups: [2, 2] },
    { label: 'a larger datagram than the first', dgrams: with_(0, udpPacket({ ...V4, id: 500 }, 4000, 5201, bytes(500, 0))), groups: [1, 3] },
    { label: 'a different TTL', dgrams: with_(2, udpPacket({ ...V4, id: 502, ttl: 3 }, 4000, 5201, bytes(1000, 2))), groups: [2, 1, 1] },
    { label: 'a TCP segment', dgrams: with_(2, tcpPacket({ ...V4, id: 502 }, { sport: 4000, dport: 5201, seq: 1, flags: ACK }, bytes(1000))), groups: [2, 1, 1] },
    { label: 'an IPv4 fragment', dgrams: (() => { const s = four(); const p = s[1] ?? new Uint8Array(); p[6] = 0x20; return s; })(), groups: [1, 1, 2] },
    { label: 'a UDP length that disagrees', dgrams: (() => { const s = four(); const p = s[3] ?? new Uint8Array(); p[24] = 0; return s; })(), groups: [3, 1] },
    { label: 'garbage', dgrams: [bytes(3), ...four()], groups: [1, 4] },
  ])('does not merge across $label', ({ dgrams, groups: want }) => {
    const writes = coalesceAll(dgrams, undefined, true);
    expect(groups(writes)).toEqual(want);
    expect(unpacked(writes)).toEqual(dgrams);
  });
});
