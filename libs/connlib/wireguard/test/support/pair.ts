// Two Tunns wired together in memory with a fake clock and a seeded Rng (test support).
import { randomBytes } from 'node:crypto';
import { xorshiftRng } from '@postern/testing';
import { StaticIdentity, Tunn, generateKeyPair, type Rng, type TunnConfig, type TunnResult } from '../../src/index';

/** Deterministic xorshift Rng (not cryptographic: tests only). */
export function seededRng(seed: number): Rng {
  return xorshiftRng(seed);
}

/** A minimal IPv4 packet (20-byte header, no checksum) with `payloadLen` bytes of payload. */
export function ipv4Packet(payloadLen: number, fill = 0xab): Uint8Array {
  const p = new Uint8Array(20 + payloadLen).fill(fill);
  p[0] = 0x45;
  p[1] = 0;
  p[2] = (p.length >> 8) & 0xff;
  p[3] = p.length & 0xff;
  return p;
}

export interface Pair {
  a: Tunn;
  b: Tunn;
  clock: { now: number };
  identities: { a: StaticIdentity; b: StaticIdentity };
}

export function makePair(opts: { psk?: boolean; seed?: number; a?: Partial<TunnConfig>; b?: Partial<TunnConfig> } = {}): Pair {
  const rng = seededRng(opts.seed ?? 1);
  const ka = generateKeyPair(rng);
  const kb = generateKeyPair(rng);
  const ia = new StaticIdentity(ka.privateKey);
  const ib = new StaticIdentity(kb.privateKey);
  const psk = opts.psk === true ? new Uint8Array(randomBytes(32)) : undefined;
  const base = { wallClockAtZero: 1_700_000_000_000 };
  const a = new Tunn({ ...base, identity: ia, peerPublicKey: kb.publicKey, index: 1, rng: seededRng(11), ...(psk ? { presharedKey: psk } : {}), ...opts.a });
  const b = new Tunn({ ...base, identity: ib, peerPublicKey: ka.publicKey, index: 2, rng: seededRng(22), ...(psk ? { presharedKey: psk } : {}), ...opts.b });
  return { a, b, clock: { now: 0 }, identities: { a: ia, b: ib } };
}

/** Copies the bytes a result points at (results are reused by the Tunn). */
export function bytesOf(r: TunnResult): Uint8Array {
  if (r.kind === 'writeToNetwork' || r.kind === 'writeToTunnelV4' || r.kind === 'writeToTunnelV6') {
    return r.buffer.slice(r.offset, r.offset + r.length);
  }
  throw new Error(`expected bytes, got ${r.kind}${r.kind === 'error' ? ` (${r.reason})` : ''}`);
}

/**
 * Delivers `datagram` to `to` and keeps bouncing whatever comes back between the two until quiet.
 * Returns the IP packets each side wrote to its tunnel.
 */
export function deliver(from: Tunn, to: Tunn, datagram: Uint8Array, now: number): { tunnel: Map<Tunn, Uint8Array[]>; errors: string[] } {
  const tunnel = new Map<Tunn, Uint8Array[]>([
    [from, []],
    [to, []],
  ]);
  const errors: string[] = [];
  const pending: [Tunn, Tunn, Uint8Array][] = [[from, to, datagram]];
  const out = new Uint8Array(2048);
  for (let guard = 0; pending.length > 0 && guard < 1000; guard++) {
    const item = pending.shift();
    if (item === undefined) break;
    const [src, dst, d] = item;
    const r = dst.decapsulate(d.slice(), out, now);
    if (r.kind === 'writeToNetwork') pending.push([dst, src, bytesOf(r)]);
    else if (r.kind === 'writeToTunnelV4' || r.kind === 'writeToTunnelV6') tunnel.get(dst)?.push(bytesOf(r));
    else if (r.kind === 'error') errors.push(r.reason);
    for (let f = dst.flushQueued(out, now); f.kind === 'writeToNetwork'; f = dst.flushQueued(out, now)) pending.push([dst, src, bytesOf(f)]);
  }
  return { tunnel, errors };
}
