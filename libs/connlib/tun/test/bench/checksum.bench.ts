// The Internet checksum of a TCP segment (1,280 bytes) as the TSO split computes it: in WebAssembly SIMD where
// the TUN reader reads (simdScratch, twelfth round), in JS elsewhere (sum16's loop, tenth round), and the way it
// was computed before the tenth round (the 16-bit halves of each 32-bit word summed), in one run: ns per segment
// and the ratios. In memory, no root needed.
import { it } from 'vitest';
import { checksumBackend, fold16, simdScratch, sum16 } from '../../src/offload.worker.mjs';

const SEGMENT = 1280;
const ROUNDS = Number(process.env['TUN_CHECKSUM_BENCH_ROUNDS'] ?? 200_000);

// The previous sum16 (before the tenth round), as it was: the words array in a module variable, `?? 0` on each
// load, the two 16-bit halves of each 32-bit word added.
let oldWordsOf: ArrayBufferLike | undefined;
let oldWords: Uint32Array = new Uint32Array(0);
function sum16Halves(b: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  let i = off;
  const end = off + len;
  const base = b.byteOffset;
  while (((base + i) & 3) !== 0 && i + 1 < end) {
    s += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
    i += 2;
  }
  if (((base + i) & 3) === 0 && end - i >= 64) {
    if (oldWordsOf !== b.buffer) {
      oldWordsOf = b.buffer;
      oldWords = new Uint32Array(b.buffer, 0, b.buffer.byteLength >>> 2);
    }
    let le = 0;
    let w = (base + i) >>> 2;
    const wEnd = w + ((end - i) >>> 2);
    for (; w < wEnd; w++) {
      const x = oldWords[w] ?? 0;
      le += (x & 0xffff) + (x >>> 16);
    }
    i = (w << 2) - base;
    while (le > 0xffff) le = (le & 0xffff) + Math.floor(le / 0x10000);
    s += ((le & 0xff) << 8) | (le >>> 8);
  }
  for (; i + 1 < end; i += 2) s += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  if (i < end) s += (b[i] ?? 0) << 8;
  return s;
}

function time(f: (i: number) => number): number {
  let acc = 0;
  const t = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) acc += f(i);
  const ns = Number(process.hrtime.bigint() - t) / ROUNDS;
  if (acc === -1) process.stdout.write('');
  return ns;
}

it('checksum of 1,280-byte segments: SIMD in the reader\'s scratch, sum16 in a shared ring, the loop before it', () => {
  const ring = new Uint8Array(new SharedArrayBuffer(64 * 1024));
  for (let i = 0; i < ring.length; i++) ring[i] = (Math.imul(i, 2654435761) >>> 24) & 0xff;
  const scratch = simdScratch(ring.length);
  scratch.set(ring);
  const slots = ring.length / 2048;
  const at = (i: number): number => (i % slots) * 2048;
  for (let i = 0; i < slots; i++) {
    const want = fold16(sum16Halves(ring, at(i) + 52, SEGMENT - 52, 0));
    const got = fold16(sum16(ring, at(i) + 52, SEGMENT - 52, 0));
    if (got % 0xffff !== want % 0xffff) throw new Error(`sum16 disagrees at slot ${i}`);
    if (fold16(sum16(scratch, at(i) + 52, SEGMENT - 52, 0)) % 0xffff !== want % 0xffff) throw new Error(`SIMD disagrees at slot ${i}`);
  }
  const rows: string[] = [];
  let best = { simd: Infinity, sum16: Infinity, halves: Infinity };
  for (let r = 0; r < 5; r++) {
    // as splitPacket sums a segment: from the TCP header (after a 20-byte IPv4 header and the 32 of a ring slot's head)
    const a = time((i) => sum16(ring, at(i) + 52, SEGMENT - 52, 0));
    const b = time((i) => sum16Halves(ring, at(i) + 52, SEGMENT - 52, 0));
    const c = time((i) => sum16(scratch, at(i) + 52, SEGMENT - 52, 0));
    best = { simd: Math.min(best.simd, c), sum16: Math.min(best.sum16, a), halves: Math.min(best.halves, b) };
  }
  rows.push(`| sum16 in simdScratch (${checksumBackend()}) | ${best.simd.toFixed(0)} ns |`);
  rows.push(`| sum16 (four words a step, two small-integer sums) | ${best.sum16.toFixed(0)} ns |`);
  rows.push(`| the halves of each word (before) | ${best.halves.toFixed(0)} ns |`);
  process.stdout.write(
    `\nInternet checksum of a ${SEGMENT}-byte segment (best of 5 x ${ROUNDS})\n| how | per segment |\n|---|---|\n${rows.join('\n')}\n` +
      `sum16 / before: ${(best.sum16 / best.halves).toFixed(2)}x the time; SIMD / sum16: ${(best.simd / best.sum16).toFixed(2)}x\n`,
  );
});
