// Real TUN devices in a network namespace (prefix ptun, 198.18.8.0/24): packets cross between the device and
// the kernel in both directions, in order; backpressure keeps memory flat; shutdown under load never hangs.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, removeLeftovers, run } from '@postern/testing';
import { openTun, type Tun } from '../../src/index';
import { enterNetns } from '../support/netns';
import { udp4, udp4Payload } from '../support/packets';
import { verify } from '../support/tcp';

const NS = 'ptun-a';
const DEV = 'ptun0';
const BATCH = fileURLToPath(new URL('../support/ptun0.ip', import.meta.url));
const LOCAL = '198.18.8.1';
const REMOTE = '198.18.8.2';
const ITER = Number(process.env["TUN_SHUTDOWN_ITER"] ?? 100);
const FLOOD = fileURLToPath(new URL('../support/flood.mjs', import.meta.url));

let ns: Netns;
let leave: (() => void) | undefined;

async function openUp(queues: number, extra: Partial<Parameters<typeof openTun>[0]> = {}): Promise<Tun> {
  const tun = await openTun({ name: DEV, queues, ...extra });
  // The main thread is inside the namespace (enterNetns), so `ip` runs there too.
  await run('ip', ['-batch', BATCH]);
  return tun;
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(1);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

beforeAll(async () => {
  removeLeftovers('ptun');
  ns = await Netns.create(NS);
  leave = enterNetns(NS);
});

afterAll(async () => {
  leave?.();
  await ns.destroy();
  removeLeftovers('ptun');
});

describe.each([
  { queues: 1, offloads: false, label: 'single queue, no offloads' },
  { queues: 1, offloads: true, label: 'single queue, offloads' },
  { queues: 2, offloads: true, label: 'multi-queue (2), offloads' },
])('TUN $label', ({ queues, offloads }) => {
  it('delivers datagrams the kernel routes into the device, in order', async () => {
    const tun = await openUp(queues, { offloads });
    expect(tun.offloads !== 'off').toBe(offloads);
    const sock = dgram.createSocket('udp4');
    try {
      sock.bind(0, LOCAL);
      await once(sock, 'listening');
      const total = 3000;
      const seen: number[] = [];
      let badChecksums = 0;
      const reading = (async () => {
        const end = performance.now() + 10_000;
        while (seen.length < total && performance.now() < end) {
          for (const p of await tun.recvMany(100)) {
            const pl = udp4Payload(p);
            if (pl !== undefined && pl.length >= 4 && p[19] === 2) {
              seen.push(new DataView(pl.buffer, pl.byteOffset).getUint32(0));
              // With offloads the kernel leaves the UDP checksum partial: the reader must have completed it.
              const v = verify(p);
              if (!v.ipOk || !v.l4Ok || !v.lengthOk) badChecksums++;
            }
          }
        }
      })();
      for (let i = 0; i < total; i += 100) {
        await Promise.all(
          Array.from({ length: 100 }, (_, k) => {
            const b = Buffer.alloc(64);
            b.writeUInt32BE(i + k);
            return new Promise<void>((res, rej) => { sock.send(b, 9999, REMOTE, (e) => {
                if (e) rej(e);
                else res();
              }); });
          }),
        );
      }
      await Promise.race([reading, sleep(10_000)]);
      expect(seen).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(badChecksums).toBe(0);
    } finally {
      sock.close();
      await tun.close();
    }
  });

  it('hands packets written to the device to the kernel, in order', async () => {
    const tun = await openUp(queues, { offloads });
    const sock = dgram.createSocket('udp4');
    try {
      sock.bind(7777, LOCAL);
      await once(sock, 'listening');
      const total = 3000;
      const seen: number[] = [];
      sock.on('message', (m) => seen.push(m.readUInt32BE(0)));
      const packets = Array.from({ length: total }, (_, i) => {
        const b = new Uint8Array(64);
        new DataView(b.buffer).setUint32(0, i);
        return udp4(REMOTE, 5555, LOCAL, 7777, b);
      });
      // Paced in windows of 100 so the receiving socket's buffer (rmem_max) never overflows.
      for (let i = 0; i < total; i += 100) {
        await tun.sendAll(packets.slice(i, i + 100));
        await until(() => seen.length >= i + 100, 5000);
      }
      expect(seen).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(tun.stats().txErrors).toBe(0);
      // a packet larger than the device's slots (a peer's oversized inner packet) is dropped and counted, and the
      // packets around it still go out
      const huge = udp4(REMOTE, 5555, LOCAL, 7777, new Uint8Array(6458));
      const mark = (i: number): Uint8Array => {
        const b = new Uint8Array(64);
        new DataView(b.buffer).setUint32(0, i);
        return udp4(REMOTE, 5555, LOCAL, 7777, b);
      };
      expect(tun.send([mark(total), huge, mark(total + 1)])).toBe(3);
      await until(() => seen.length >= total + 2, 5000);
      expect(seen.slice(total)).toEqual([total, total + 1]);
      expect(tun.stats().txTooLarge).toBe(1);
      expect(tun.stats().txErrors).toBe(1);
    } finally {
      sock.close();
      await tun.close();
    }
  });
});

describe('TUN backpressure and shutdown', () => {
  it('keeps memory flat when the kernel sends faster than the consumer reads', async () => {
    const tun = await openUp(1, { channelCapacity: 256 });
    const flood = ns.spawn(process.execPath, [FLOOD, REMOTE, '9', '1200']);
    try {
      const end = performance.now() + 3000;
      let got = 0;
      let rssAfterWarmup = 0;
      while (performance.now() < end) {
        got += (await tun.recvMany(32)).length;
        await sleep(2); // a slow consumer
        if (rssAfterWarmup === 0 && performance.now() > end - 2500) rssAfterWarmup = process.memoryUsage().rss;
      }
      const growth = process.memoryUsage().rss - rssAfterWarmup;
      expect(got).toBeGreaterThan(0);
      expect(tun.stats().readerStalls).toBeGreaterThan(0);
      expect(growth).toBeLessThan(16 << 20);
    } finally {
      flood.kill('SIGKILL');
      await tun.close();
    }
  });

  it.each([
    { queues: 1, times: ITER },
    { queues: 2, times: Math.ceil(ITER / 20) },
  ])('closes within the grace period under load in both directions, $times times in a row ($queues queue(s))', async ({ queues, times }) => {
    const flood = ns.spawn(process.execPath, [FLOOD, REMOTE, '9', '1200']);
    const filler = udp4(REMOTE, 5555, LOCAL, 9, new Uint8Array(1200));
    const batch = Array.from({ length: 64 }, () => filler);
    const durations: number[] = [];
    try {
      for (let i = 0; i < times; i++) {
        const t0 = performance.now();
        const tun = await openUp(queues, { channelCapacity: 256, shutdownGraceMs: 10_000 });
        // Outbound queue full, readers busy with the flood.
        while (tun.send(batch) > 0) {
          /* fill */
        }
        const t1 = performance.now();
        // A consumer keeps reading through the close: it must end with [] (not a worker failure).
        const consumer = (async () => {
          while ((await tun.recvMany(64)).length > 0) {
            /* drain */
          }
        })();
        await sleep(5);
        const report = await tun.close();
        await consumer;
        durations.push(report.durationMs);
        if (process.env['TUN_DEBUG']) process.stdout.write(`${i} open ${(t1 - t0).toFixed(0)} ms, close ${report.durationMs.toFixed(0)} ms\n`);
        expect(report.stuckWorkers).toBe(0);
        expect(report.unflushed).toBe(0);
        expect(() => tun.send(batch)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
        expect(await tun.recvMany()).toEqual([]);
      }
    } finally {
      flood.kill('SIGKILL');
    }
    const max = Math.max(...durations);
    process.stdout.write(`shutdown under load (${queues} queue(s)): ${times} closes, max ${max.toFixed(1)} ms, median ${durations.sort((a, b) => a - b)[Math.floor(times / 2)]?.toFixed(1)} ms\n`);
    expect(max).toBeLessThan(10_000);
  }, 400_000);
});
