// UDP send+receive throughput on a namespace's loopback (psf): batched koffi backend with GSO/GRO, batched
// without offloads (sendmmsg/recvmmsg only) and node:dgram, in one run; prints datagrams/s, Gbit/s and the
// ratio to node:dgram (the reference).
import { it } from 'vitest';
import { Netns, removeLeftovers } from '@postern/testing';
import { bindUdp, type UdpSocketOptions } from '../../src/index';
import { enterNetns } from '../support/netns';

const SIZE = 1316; // the largest Postern datagram
const SECONDS = Number(process.env['UDP_BENCH_SECONDS'] ?? 3);

async function measure(txo: UdpSocketOptions, rxo: UdpSocketOptions): Promise<{ pps: number; gbps: number; lost: number }> {
  const rx = await bindUdp({ ...rxo, address: '127.0.0.1', port: 0, recvBufferSize: 8 << 20 });
  const tx = await bindUdp({ ...txo, address: '127.0.0.1', port: 0, sendBufferSize: 8 << 20 });
  const dst = tx.addr('127.0.0.1', rx.local.port);
  const payload = new Uint8Array(SIZE);
  const state = { running: true, received: 0, sent: 0 };
  const reader = (async () => {
    while (state.running) state.received += (await rx.recvMany(4096)).length;
  })();
  const writer = (async () => {
    while (state.running) {
      // A window keeps the receiver's buffer from overflowing (UDP has no flow control).
      while (state.sent - state.received < 2048) {
        tx.sendQueue.push(dst, payload);
        state.sent++;
      }
      tx.sendQueue.flush();
      await new Promise((r) => setImmediate(r));
    }
  })();
  await new Promise((r) => setTimeout(r, 500));
  const r0 = state.received;
  const s0 = state.sent;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const n = state.received - r0;
  const secs = (performance.now() - t0) / 1000;
  const sentIn = state.sent - s0;
  state.running = false;
  await writer;
  await tx.close();
  await rx.close();
  await Promise.race([reader, new Promise((r) => setTimeout(r, 1000))]);
  return { pps: n / secs, gbps: (n * SIZE * 8) / secs / 1e9, lost: Math.max(0, sentIn - n - 2048) };
}

it('UDP send+receive: batched GSO/GRO vs sendmmsg/recvmmsg vs node:dgram', async () => {
  removeLeftovers('psf');
  const ns = await Netns.create('psf-bench');
  const leave = enterNetns('psf-bench');
  try {
    const variants: [string, UdpSocketOptions, UdpSocketOptions][] = [
      ['node:dgram -> node:dgram (reference)', { backend: 'dgram' }, { backend: 'dgram' }],
      ['batched sendmmsg -> recvmmsg (no offload)', { backend: 'batched', gso: false }, { backend: 'batched', gro: false }],
      ['batched GSO -> GRO', { backend: 'batched' }, { backend: 'batched' }],
      ['batched GSO -> node:dgram', { backend: 'batched' }, { backend: 'dgram' }],
    ];
    const rows: string[] = [];
    let ref = 0;
    for (const [label, txo, rxo] of variants) {
      const r = await measure(txo, rxo);
      if (ref === 0) ref = r.pps;
      rows.push(`| ${label} | ${(r.pps / 1e3).toFixed(0)} k/s | ${r.gbps.toFixed(2)} Gbit/s | x${(r.pps / ref).toFixed(2)} |`);
    }
    process.stdout.write(`\nUDP ${SIZE}-byte datagrams over loopback, ${SECONDS} s each, sender and receiver in one process\n| path | datagrams/s | Gbit/s | vs node:dgram |\n|---|---|---|---|\n${rows.join('\n')}\n`);
  } finally {
    leave();
    await ns.destroy();
    removeLeftovers('psf');
  }
});
