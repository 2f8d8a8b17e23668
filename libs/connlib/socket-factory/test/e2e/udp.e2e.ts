// Real UDP sockets inside a network namespace (prefix psf, 198.18.9.0/24; traffic stays on the namespace's
// loopback and veth): batched (GSO/GRO) and node:dgram backends, both ways; floods arrive complete and in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, removeLeftovers, run } from '@postern/testing';
import { bindUdp, probeOffloads, type UdpSocket, type UdpSocketOptions } from '../../src/index';
import { enterNetns } from '../support/netns';

const NS = 'psf-a';
let ns: Netns;
let leave: (() => void) | undefined;

beforeAll(async () => {
  removeLeftovers('psf');
  ns = await Netns.create(NS);
  leave = enterNetns(NS);
  await run('ip', ['addr', 'add', '::1/128', 'dev', 'lo']).catch(() => undefined);
});

afterAll(async () => {
  leave?.();
  await ns.destroy();
  removeLeftovers('psf');
});

async function flood(tx: UdpSocket, rx: UdpSocket, total: number, size: number, window: number): Promise<{ seen: number[]; ms: number }> {
  const dst = tx.addr('127.0.0.1', rx.local.port);
  const seen: number[] = [];
  const t0 = performance.now();
  const receiving = (async () => {
    const end = performance.now() + 20_000;
    while (seen.length < total && performance.now() < end) {
      for (const d of await rx.recvMany()) {
        expect(d.data.length).toBe(size);
        seen.push(new DataView(d.data.buffer, d.data.byteOffset).getUint32(0));
      }
    }
  })();
  for (let i = 0; i < total; ) {
    // Windowed so the receive socket buffer never overflows (UDP has no flow control of its own).
    while (i < total && i - seen.length < window) {
      const buf = tx.sendQueue.reserve(dst, size);
      new DataView(buf.buffer, buf.byteOffset).setUint32(0, i);
      buf.fill(0xab, 4, size);
      tx.sendQueue.commit(size);
      i++;
    }
    tx.sendQueue.flush();
    await new Promise((r) => setImmediate(r));
  }
  await receiving;
  return { seen, ms: performance.now() - t0 };
}

const variants: { label: string; tx: UdpSocketOptions; rx: UdpSocketOptions }[] = [
  { label: 'batched GSO -> batched GRO', tx: { backend: 'batched' }, rx: { backend: 'batched' } },
  { label: 'batched, no GSO/GRO (sendmmsg/recvmmsg only)', tx: { backend: 'batched', gso: false }, rx: { backend: 'batched', gro: false } },
  { label: 'batched GSO -> node:dgram', tx: { backend: 'batched' }, rx: { backend: 'dgram' } },
  { label: 'node:dgram -> batched GRO', tx: { backend: 'dgram' }, rx: { backend: 'batched' } },
];

describe('UDP flood', () => {
  it.each(variants)('$label: 20 000 datagrams arrive complete and in order', async ({ tx: txo, rx: rxo }) => {
    const rx = await bindUdp({ ...rxo, address: '127.0.0.1', port: 0, recvBufferSize: 4 << 20 });
    const tx = await bindUdp({ ...txo, address: '127.0.0.1', port: 0 });
    try {
      if (txo.backend === 'batched' && txo.gso !== false) expect(tx.gso).toBe(probeOffloads().gso);
      if (rxo.backend === 'batched' && rxo.gro !== false) expect(rx.gro).toBe(probeOffloads().gro);
      const total = 20_000;
      const { seen } = await flood(tx, rx, total, 1316, 1024);
      expect(seen.length).toBe(total);
      expect(seen.every((v, i) => v === i)).toBe(true);
      expect(tx.stats().txDatagrams).toBe(total);
      if (tx.gso) expect(tx.stats().txBatches).toBeLessThan(total / 4);
      if (tx.gso && rx.gro) expect(rx.stats().rxBatches).toBeLessThan(total);
    } finally {
      await tx.close();
      await rx.close();
    }
  });
});

describe('UDP socket options', () => {
  it('binds 52625 by default and falls back to an ephemeral port when it is taken', async () => {
    const a = await bindUdp({ address: '127.0.0.1' });
    const b = await bindUdp({ address: '127.0.0.1' });
    const c = await bindUdp({ address: '127.0.0.1', backend: 'dgram' });
    try {
      expect(a.local.port).toBe(52625);
      expect(b.local.port).not.toBe(52625);
      expect(c.local.port).not.toBe(52625);
      await expect(bindUdp({ address: '127.0.0.1', port: 52625, portFallback: false })).rejects.toMatchObject({ code: 'BIND_FAILED' });
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it('one dual-stack socket talks to IPv4 and IPv6 peers', async () => {
    const dual = await bindUdp({ port: 0, mark: 0x1337, sendBufferSize: 1 << 20, recvBufferSize: 1 << 20 });
    const p4 = await bindUdp({ address: '127.0.0.1', port: 0 });
    const p6 = await bindUdp({ address: '::1', port: 0, backend: 'dgram' });
    try {
      expect(dual.dualStack).toBe(true);
      dual.sendQueue.push(dual.addr('127.0.0.1', p4.local.port), new TextEncoder().encode('to v4'));
      dual.sendQueue.push(dual.addr('::1', p6.local.port), new TextEncoder().encode('to v6'));
      dual.sendQueue.flush();
      const [m4] = await p4.recvMany();
      const [m6] = await p6.recvMany();
      expect(new TextDecoder().decode(m4?.data)).toBe('to v4');
      expect(new TextDecoder().decode(m6?.data)).toBe('to v6');
      p4.sendQueue.push(p4.addr('127.0.0.1', dual.local.port), new TextEncoder().encode('back'));
      p4.sendQueue.flush();
      const [back] = await dual.recvMany();
      expect(back?.from.family).toBe(4);
      expect(back?.from.key).toBe(`127.0.0.1:${p4.local.port}`);
    } finally {
      await Promise.all([dual.close(), p4.close(), p6.close()]);
    }
  });

  it('sets SO_MARK so fwmark routing rules apply', async () => {
    // Packets marked 0x2a are routed by table 42, which only has a blackhole: sends fail, unmarked ones pass.
    // (In this namespace only: the local table moves behind the fwmark rule so the mark decides.)
    await run('ip', ['rule', 'add', 'pref', '100', 'table', 'local']);
    await run('ip', ['rule', 'del', 'pref', '0', 'table', 'local']);
    await run('ip', ['rule', 'add', 'pref', '10', 'fwmark', '0x2a', 'table', '42']);
    await run('ip', ['route', 'add', 'blackhole', '127.0.0.0/8', 'table', '42']);
    const marked = await bindUdp({ address: '127.0.0.1', port: 0, mark: 0x2a });
    const plain = await bindUdp({ address: '127.0.0.1', port: 0 });
    const rx = await bindUdp({ address: '127.0.0.1', port: 0 });
    try {
      marked.sendQueue.push(marked.addr('127.0.0.1', rx.local.port), new Uint8Array([1]));
      marked.sendQueue.flush();
      plain.sendQueue.push(plain.addr('127.0.0.1', rx.local.port), new Uint8Array([2]));
      plain.sendQueue.flush();
      const got = await rx.recvMany();
      expect(got.map((d) => d.data[0])).toEqual([2]);
      expect(marked.stats().txErrors).toBe(1);
    } finally {
      await Promise.all([marked.close(), plain.close(), rx.close()]);
      await run('ip', ['rule', 'del', 'pref', '10']);
      await run('ip', ['rule', 'add', 'pref', '0', 'table', 'local']);
      await run('ip', ['rule', 'del', 'pref', '100']);
    }
  });

  it('closes while flooded, within the grace period, 20 times in a row', async () => {
    const rx0 = await bindUdp({ address: '127.0.0.1', port: 0 });
    const port = rx0.local.port;
    await rx0.close();
    const tx = await bindUdp({ address: '127.0.0.1', port: 0 });
    const dst = tx.addr('127.0.0.1', port);
    const payload = new Uint8Array(1200);
    const state = { flooding: true };
    const pump = (async () => {
      while (state.flooding) {
        for (let i = 0; i < 256; i++) tx.sendQueue.push(dst, payload);
        tx.sendQueue.flush();
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      for (let i = 0; i < 20; i++) {
        const rx = await bindUdp({ address: '127.0.0.1', port, portFallback: false, recvCapacity: 16 });
        await new Promise((r) => setTimeout(r, 5));
        const t0 = performance.now();
        await rx.close();
        expect(performance.now() - t0).toBeLessThan(10_000);
      }
    } finally {
      state.flooding = false;
      await pump;
      await tx.close();
    }
  }, 120_000);
});

// The receive worker's loop (recvmmsg into the ring, metadata, publish) allocates nothing per datagram or per
// batch, so its isolate does not collect garbage however much arrives.
describe('UDP receive worker isolate', () => {
  it('collects garbage at most once (start-up leftovers) while 50 000 datagrams arrive without GRO', async () => {
    const rx = await bindUdp({ backend: 'batched', gro: false, address: '127.0.0.1', port: 0, recvBufferSize: 4 << 20, gcStats: true });
    const tx = await bindUdp({ backend: 'batched', address: '127.0.0.1', port: 0 });
    try {
      const total = 50_000;
      const { seen } = await flood(tx, rx, total, 1316, 1024);
      expect(seen.length).toBe(total);
    } finally {
      await tx.close();
      await rx.close();
    }
    const gc = rx.stats().workerGc;
    process.stdout.write(`receive worker GC over 50 000 datagrams: ${JSON.stringify(gc)}\n`);
    expect(gc).toBeDefined();
    expect(gc?.count ?? Infinity).toBeLessThanOrEqual(1);
  });
});

describe('readable()', () => {
  it.each(['batched', 'dgram'] as const)('%s: resolves when a datagram arrives, consumes nothing, rejects CLOSED after close', async (backend) => {
    const rx = await bindUdp({ backend, address: '127.0.0.1', port: 0 });
    const tx = await bindUdp({ backend: 'dgram', address: '127.0.0.1', port: 0 });
    try {
      let woke = false;
      const wait = rx.readable().then(() => (woke = true));
      await new Promise((r) => setTimeout(r, 50));
      expect(woke).toBe(false);
      tx.sendQueue.push(tx.addr('127.0.0.1', rx.local.port), Uint8Array.of(1, 2, 3));
      tx.sendQueue.flush();
      await wait;
      expect(woke).toBe(true);
      // nothing consumed: the datagram is still there, and readable() resolves at once while it is
      await rx.readable();
      expect(rx.tryRecvMany().map((d) => [...d.data])).toEqual([[1, 2, 3]]);
    } finally {
      await tx.close();
      await rx.close();
    }
    await expect(rx.readable()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('close()', () => {
  it('ends a receive loop with [] while datagrams flow (the worker stopping during close is not a receive failure), 20 times', async () => {
    for (let i = 0; i < 20; i++) {
      const rx = await bindUdp({ backend: 'batched', address: '127.0.0.1', port: 0 });
      const tx = await bindUdp({ backend: 'batched', address: '127.0.0.1', port: 0 });
      const dst = tx.addr('127.0.0.1', rx.local.port);
      const flow = { sending: true };
      const sender = (async () => {
        while (flow.sending) {
          for (let k = 0; k < 32; k++) tx.sendQueue.push(dst, new Uint8Array(200));
          tx.sendQueue.flush();
          await new Promise((r) => setImmediate(r));
        }
      })();
      const receiver = (async () => {
        for (;;) if ((await rx.recvMany()).length === 0) return;
      })();
      await new Promise((r) => setTimeout(r, 20));
      await rx.close();
      flow.sending = false;
      await sender;
      await tx.close();
      await expect(receiver).resolves.toBeUndefined();
    }
  });
});
