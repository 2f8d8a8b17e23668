// The ceiling loop's frame format (src/ceiling/frame.ts) through Postern's real AEAD backend (OpenSSL via koffi),
// its GSO run planner and its command line.
import fc from 'fast-check';
import { cryptoBackend } from '@postern/wireguard';
import { describe, expect, it } from 'vitest';
import { parseCeilingArgs } from '../../src/ceiling/args';
import {
  FRAME_AUTH,
  FRAME_HEADER,
  FRAME_IP,
  FRAME_OVERHEAD,
  FRAME_RECEIVER,
  FRAME_SHORT,
  FRAME_TYPE,
  frameCounters,
  frameLength,
  ipLength,
  openFrame,
  sealFrame,
} from '../../src/ceiling/frame';
import { GsoRuns } from '../../src/ceiling/gso';

const backend = cryptoBackend();
const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
const seal = backend.aead(key);
const open = backend.aead(key);

/** An IPv4 packet of `len` bytes (version/IHL, total length; the rest a pattern). */
function ipv4(len: number): Uint8Array {
  const p = Uint8Array.from({ length: len }, (_, i) => (i * 31 + 5) & 0xff);
  p[0] = 0x45;
  p[2] = len >> 8;
  p[3] = len & 0xff;
  return p;
}

function sealed(packet: Uint8Array, counter: number, receiver = 7): Uint8Array {
  const buf = new Uint8Array(frameLength(packet.length) + 8);
  buf.set(packet, FRAME_HEADER + 4);
  const n = sealFrame(seal, buf, 4, packet.length, receiver, counter);
  expect(n).toBe(frameLength(packet.length));
  return buf.subarray(4, 4 + n);
}

describe('ceiling frame', () => {
  it('round-trips IPv4 and IPv6 packets of every padding, with WireGuard header fields', () => {
    for (const len of [20, 21, 40, 52, 1279, 1280]) {
      const p = ipv4(len);
      const f = sealed(p, 5_000_000_000 + len);
      expect([...f.subarray(0, 4)]).toEqual([4, 0, 0, 0]);
      expect(new DataView(f.buffer, f.byteOffset).getUint32(4, true)).toBe(7);
      expect(Number(new DataView(f.buffer, f.byteOffset).getBigUint64(8, true))).toBe(5_000_000_000 + len);
      expect((f.length - FRAME_OVERHEAD) % 16).toBe(0);
      const c = frameCounters();
      expect(openFrame(open, f, 0, f.length, 7, c)).toBe(len);
      expect(f.subarray(FRAME_HEADER, FRAME_HEADER + len)).toEqual(p);
      expect(c.opened).toBe(1);
    }
    const v6 = new Uint8Array(60);
    v6[0] = 0x60;
    v6[5] = 20; // payload length
    const f = sealed(v6, 1);
    expect(openFrame(open, f, 0, f.length, 7, frameCounters())).toBe(60);
  });

  it('refuses every flipped bit (header, ciphertext, tag) and counts the reason', () => {
    const p = ipv4(100);
    const f = sealed(p, 42);
    for (let bit = 0; bit < f.length * 8; bit++) {
      const g = Uint8Array.from(f);
      g[bit >> 3] = (g[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      const c = frameCounters();
      const r = openFrame(open, g, 0, g.length, 7, c);
      const byte = bit >> 3;
      expect(r).toBe(byte < 4 ? FRAME_TYPE : byte < 8 ? FRAME_RECEIVER : FRAME_AUTH);
      expect(c.opened).toBe(0);
      expect(c.type + c.receiver + c.auth).toBe(1);
    }
  });

  it('counts short, misaligned, foreign and non-IP datagrams as drops without throwing', () => {
    const c = frameCounters();
    expect(openFrame(open, new Uint8Array(0), 0, 0, 7, c)).toBe(FRAME_SHORT);
    expect(openFrame(open, new Uint8Array(31), 0, 31, 7, c)).toBe(FRAME_SHORT);
    const f = sealed(ipv4(64), 3);
    expect(openFrame(open, f, 0, f.length - 1, 7, c)).toBe(FRAME_SHORT); // not a multiple of 16
    expect(openFrame(open, f, 8, f.length, 7, c)).toBe(FRAME_SHORT); // runs past the buffer
    expect(openFrame(open, f, 0, f.length, 8, c)).toBe(FRAME_RECEIVER);
    // authentic, but the plaintext is no IP packet (version 0) / announces more than it holds
    const junk = new Uint8Array(48);
    const g = sealed(junk, 4);
    expect(openFrame(open, g, 0, g.length, 7, c)).toBe(FRAME_IP);
    const long = ipv4(64);
    long[3] = 200;
    const h = sealed(long, 5);
    expect(openFrame(open, h, 0, h.length, 7, c)).toBe(FRAME_IP);
    expect(c).toEqual({ opened: 0, short: 4, type: 0, receiver: 1, auth: 0, ip: 2 });
  });

  it('never throws on random datagrams, and counts each exactly once', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, asData) => {
        if (asData && bytes.length >= 8) {
          bytes[0] = 4;
          bytes[1] = bytes[2] = bytes[3] = 0;
          bytes[4] = 7;
          bytes[5] = bytes[6] = bytes[7] = 0;
        }
        const c = frameCounters();
        const r = openFrame(open, bytes, 0, bytes.length, 7, c);
        expect(r).toBeLessThan(0);
        expect(c.short + c.type + c.receiver + c.auth + c.ip).toBe(1);
      }),
      { numRuns: 500 },
    );
  });

  it('reads the IP length only when it fits the padded plaintext', () => {
    const p = ipv4(100);
    expect(ipLength(p, 0, 112)).toBe(100);
    expect(ipLength(p, 0, 99)).toBe(0);
    expect(ipLength(p, 0, 128)).toBe(0); // more than 15 bytes of padding: not what a sender makes
  });
});

describe('GSO runs', () => {
  it('groups equal datagrams, closes a run after a shorter one, and keeps the limits', () => {
    const r = new GsoRuns(16, 3, 10_000);
    for (const [slot, len] of [[0, 100], [1, 100], [2, 60], [3, 100], [4, 100], [5, 100], [6, 100], [7, 120], [8, 50]] as const) r.add(slot, len);
    const runs = Array.from({ length: r.length }, (_, i) => [r.start[i], r.count[i], r.seg[i]]);
    expect(runs).toEqual([
      [0, 3, 100], // closed by the shorter 60
      [3, 3, 100], // at 3 segments
      [6, 1, 100], // 120 is longer: a new run
      [7, 2, 120],
    ]);
    const bytes = new GsoRuns(8, 64, 250);
    for (let s = 0; s < 5; s++) bytes.add(s, 100);
    expect([...bytes.count.subarray(0, bytes.length)]).toEqual([2, 2, 1]);
    bytes.clear();
    expect(bytes.length).toBe(0);
  });
});

describe('ceiling command line', () => {
  const ok = ['--tun', 'pbn-ceil-c', '--local', '198.19.0.5:51830', '--peer', '198.19.0.4:51830', '--tx-key', 'ab'.repeat(32), '--rx-key', 'cd'.repeat(32), '--tx-index', '2', '--rx-index', '1'];
  it('parses the flags with defaults', () => {
    const a = parseCeilingArgs(ok);
    expect(a).toMatchObject({ tun: 'pbn-ceil-c', txIndex: 2, rxIndex: 1, mtu: 1280, statsMs: 0 });
    expect(a.txKey[0]).toBe(0xab);
  });
  it('refuses bad input with a USAGE error', () => {
    const bad = (args: string[]): unknown => {
      try {
        parseCeilingArgs(args);
      } catch (e) {
        return (e as { code?: unknown }).code;
      }
      return 'accepted';
    };
    expect(bad([...ok, '--mtu', '70000'])).toBe('USAGE');
    expect(bad(ok.map((v) => (v === 'ab'.repeat(32) ? 'zz' : v)))).toBe('USAGE');
    expect(bad(ok.map((v) => (v === 'pbn-ceil-c' ? 'a-much-too-long-name' : v)))).toBe('USAGE');
    expect(bad([...ok, '--stray'])).toBe('USAGE');
  });
});
