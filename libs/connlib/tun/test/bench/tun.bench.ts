// TUN read/write throughput per queue count, in a namespace (ptun): packets written to the device are
// forwarded by the kernel straight back into it (198.18.8.2 -> 198.18.8.3, routed via the device), so one
// run measures the write path and the read path together. Prints packets/s, Gbit/s and the ratio to 1 queue
// without offloads, for 1, 2 and 4 queues, offloads off and on.
import { it } from 'vitest';
import { Netns, removeLeftovers, run } from '@postern/testing';
import { openTun } from '../../src/index';
import { enterNetns } from '../support/netns';
import { udp4 } from '../support/packets';

const SIZE = 1280;
const SECONDS = Number(process.env['TUN_BENCH_SECONDS'] ?? 3);

async function measure(queues: number, offloads: boolean): Promise<{ pps: number; gbps: number }> {
  const tun = await openTun({ name: 'ptun0', queues, channelCapacity: 1024, offloads });
  try {
    await run('ip', ['addr', 'add', '198.18.8.1/24', 'dev', 'ptun0']);
    await run('ip', ['link', 'set', 'ptun0', 'up', 'txqueuelen', '10000']);
    // Many flows (source ports) so multi-queue can spread them.
    const packets = Array.from({ length: 256 }, (_, i) => udp4('198.18.8.2', 10_000 + (i % 64), '198.18.8.3', 9, new Uint8Array(SIZE - 28)));
    let received = 0;
    const state = { running: true };
    const reader = (async () => {
      while (state.running) received += (await tun.recvMany(256)).length;
    })();
    const writer = (async () => {
      while (state.running) {
        // Keep the number in flight bounded so the kernel's queue does not drop.
        if (tun.stats().txPackets - received > 2048) {
          await new Promise((r) => setImmediate(r));
          continue;
        }
        const n = tun.send(packets);
        if (n < packets.length) await tun.sendReady(64).catch(() => undefined);
      }
    })();
    await new Promise((r) => setTimeout(r, 500)); // warm-up
    const r0 = received;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const pkts = received - r0;
    const secs = (performance.now() - t0) / 1000;
    state.running = false;
    await tun.close();
    await Promise.race([Promise.all([reader, writer]), new Promise((r) => setTimeout(r, 2000))]);
    return { pps: pkts / secs, gbps: (pkts * SIZE * 8) / secs / 1e9 };
  } finally {
    await tun.close();
  }
}

it('TUN write + read (kernel forwards back into the device) per queue count', async () => {
  removeLeftovers('ptun');
  const ns = await Netns.create('ptun-bench');
  const leave = enterNetns('ptun-bench');
  try {
    await run('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
    const rows: string[] = [];
    let base = 0;
    for (const offloads of [false, true]) {
      for (const q of [1, 2, 4]) {
        const r = await measure(q, offloads);
        if (q === 1 && !offloads) base = r.pps;
        rows.push(`| ${q} | ${offloads ? 'on' : 'off'} | ${(r.pps / 1e3).toFixed(0)} kpps | ${r.gbps.toFixed(2)} Gbit/s | x${(r.pps / base).toFixed(2)} |`);
      }
    }
    process.stdout.write(
      `\nTUN write+read of UDP, ${SIZE}-byte packets, ${SECONDS} s each (each packet crosses the device twice; offloads do not apply to single datagrams, they only add the virtio header)\n` +
        `| queues | offloads | packets/s | Gbit/s | vs 1 queue, off |\n|---|---|---|---|---|\n${rows.join('\n')}\n`,
    );
  } finally {
    leave();
    await ns.destroy();
    removeLeftovers('ptun');
  }
});
