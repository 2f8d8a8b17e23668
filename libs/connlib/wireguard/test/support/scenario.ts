// A random-operations scenario over a lossy, reordering, duplicating in-memory network (test support).
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Tunn, TunnResult } from '../../src/index';
import { ipv4Packet, makePair } from './pair';

export type Op =
  | { op: 'send'; fromA: boolean; size: number }
  | { op: 'deliver'; pick: number; duplicate: boolean }
  | { op: 'drop'; pick: number }
  | { op: 'tick'; ms: number };

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('send' as const), fromA: fc.boolean(), size: fc.integer({ min: 0, max: 1400 }) }),
  fc.record({ op: fc.constant('deliver' as const), pick: fc.nat(), duplicate: fc.boolean() }),
  fc.record({ op: fc.constant('drop' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('tick' as const), ms: fc.oneof(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1000, max: 30_000 })) }),
);

export function runScenario(ops: Op[], seed: number): void {
  const { a, b } = makePair({ seed, psk: seed % 2 === 0 });
  const out = new Uint8Array(2048);
  let now = 0;
  let nextId = 1;
  const inFlight: { to: Tunn; bytes: Uint8Array }[] = [];
  const sent = new Map<number, Uint8Array>();
  const received = new Set<number>();
  const peerOf = (t: Tunn): Tunn => (t === a ? b : a);
  const emit = (from: Tunn, r: TunnResult): void => {
    if (r.kind === 'writeToNetwork') inFlight.push({ to: peerOf(from), bytes: r.buffer.slice(r.offset, r.offset + r.length) });
  };
  const check = (r: TunnResult): void => {
    if (r.kind !== 'writeToTunnelV4') return;
    const pkt = r.buffer.subarray(r.offset, r.offset + r.length);
    const id = ((pkt[4] ?? 0) << 8) | (pkt[5] ?? 0);
    const original = sent.get(id);
    expect(original).toBeDefined();
    expect(Buffer.from(pkt).equals(Buffer.from(original ?? []))).toBe(true);
    expect(received.has(id)).toBe(false);
    received.add(id);
  };
  for (const o of ops) {
    switch (o.op) {
      case 'send': {
        const from = o.fromA ? a : b;
        const id = nextId++ & 0xffff;
        const p = ipv4Packet(o.size, id & 0xff);
        p[4] = id >> 8;
        p[5] = id & 0xff;
        sent.set(id, p);
        emit(from, from.encapsulate(p, out, now));
        break;
      }
      case 'deliver':
      case 'drop': {
        if (inFlight.length === 0) break;
        const i = o.pick % inFlight.length;
        const item = inFlight[i];
        if (item === undefined) break;
        if (o.op === 'drop' || !o.duplicate) inFlight.splice(i, 1);
        if (o.op === 'drop') break;
        const r = item.to.decapsulate(item.bytes.slice(), out, now);
        check(r);
        emit(item.to, r);
        for (let f = item.to.flushQueued(out, now); f.kind !== 'done'; f = item.to.flushQueued(out, now)) emit(item.to, f);
        break;
      }
      case 'tick': {
        now += o.ms;
        for (const t of [a, b]) for (let i = 0, r = t.updateTimers(out, now); i < 4 && r.kind !== 'done'; i++, r = t.updateTimers(out, now)) emit(t, r);
        break;
      }
    }
  }
  // with the network healed, the pair converges and carries data again
  for (let round = 0; round < 40 && inFlight.length > 0; round++) {
    const item = inFlight.shift();
    if (item === undefined) break;
    const r = item.to.decapsulate(item.bytes, out, now);
    check(r);
    emit(item.to, r);
    for (let f = item.to.flushQueued(out, now); f.kind !== 'done'; f = item.to.flushQueued(out, now)) emit(item.to, f);
  }
}

