// TCP through a TUN pair (two namespaces, this process relays between the devices; see support/tun-pair.ts)
// with iperf3, offloads off vs on, in one run: Gbit/s and the ratio. Each packet crosses two devices (read
// from one, written to the other), so the figure is the TUN I/O path's ceiling for one TCP stream.
import { it } from 'vitest';
import { HOST_B, createNamespaces, destroyNamespaces, tunPair } from '../support/tun-pair';
import type { Netns } from '@postern/testing';

const SECONDS = Number(process.env['TUN_BENCH_SECONDS'] ?? 4);

async function iperf(a: Netns, b: Netns): Promise<number> {
  const server = b.spawn('iperf3', ['-s', '-1', '-B', HOST_B, '-p', '5202']);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const out = await a.exec('iperf3', ['-c', HOST_B, '-p', '5202', '-t', String(SECONDS), '-O', '1', '-J'], { timeoutMs: (SECONDS + 20) * 1000 });
    const j: unknown = JSON.parse(out);
    const bps = (j as { end?: { sum_received?: { bits_per_second?: number } } }).end?.sum_received?.bits_per_second;
    if (typeof bps !== 'number') throw new Error(`iperf3 gave no result: ${out.slice(0, 400)}`);
    return bps / 1e9;
  } finally {
    server.kill('SIGKILL');
  }
}

it('TCP through a TUN pair (iperf3, 1 stream): offloads off vs on', async () => {
  const [a, b] = await createNamespaces();
  try {
    const rows: string[] = [];
    const variants = [
      { label: 'off', off: false, queues: 1, mtu: 1500 },
      { label: 'on (TSO split + GRO coalesce)', off: true, queues: 1, mtu: 1500 },
      { label: 'off, MTU 1280', off: false, queues: 1, mtu: 1280 },
      { label: 'on, MTU 1280', off: true, queues: 1, mtu: 1280 },
    ];
    const base: Record<number, number> = {};
    for (const v of variants) {
      const pair = await tunPair(a, b, { offloads: v.off, queues: v.queues }, { offloads: v.off, queues: v.queues }, v.mtu);
      let gbps = 0;
      try {
        gbps = await iperf(a, b);
      } finally {
        await pair.close();
      }
      if (!v.off) base[v.mtu] = gbps;
      const ratio = gbps / (base[v.mtu] ?? gbps);
      rows.push(`| ${v.label} | ${v.mtu} | ${gbps.toFixed(2)} Gbit/s | x${ratio.toFixed(2)} |`);
    }
    process.stdout.write(`\nTCP (iperf3, 1 stream, ${SECONDS} s) through two TUN devices relayed by one Node process\n| offloads | MTU | throughput | vs off |\n|---|---|---|---|\n${rows.join('\n')}\n`);
  } finally {
    await destroyNamespaces([a, b]);
  }
});
