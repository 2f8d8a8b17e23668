// The device's transmit queue (txqueuelen): what the kernel holds for the reader while it is behind. A UDP
// burst larger than the reader's channel plus the kernel's 500 is dropped by the kernel (tx_dropped); the
// default 4096 holds it. In a network namespace of its own (ptun-txq, 198.18.8.0/24 as tun.e2e.ts).
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, removeLeftovers, run } from '@postern/testing';
import { openTun, TunError, type Tun } from '../../src/index';
import { enterNetns } from '../support/netns';

const NS = 'ptun-txq';
const DEV = 'ptun0';
const LOCAL = '198.18.8.1';
const REMOTE = '198.18.8.2';
const CHANNEL = 256;

let ns: Netns;
let leave: (() => void) | undefined;

beforeAll(async () => {
  removeLeftovers(NS);
  ns = await Netns.create(NS);
  leave = enterNetns(NS);
});

afterAll(async () => {
  leave?.();
  await ns.destroy();
  removeLeftovers(NS);
});

interface LinkInfo {
  readonly txqlen: number;
  readonly stats64: { readonly tx: { readonly dropped: number } };
}

async function link(): Promise<LinkInfo> {
  const out = await run('ip', ['-n', NS, '-s', '-j', 'link', 'show', DEV]);
  const [info] = JSON.parse(out) as LinkInfo[];
  if (info === undefined) throw new Error(`no ${DEV} in ${out}`);
  return info;
}

/** `count` datagrams to REMOTE (routed into the device) while nothing calls recvMany: returns tx_dropped. */
async function burst(tun: Tun, count: number): Promise<number> {
  await run('ip', ['-n', NS, 'addr', 'add', `${LOCAL}/24`, 'dev', DEV]);
  await run('ip', ['-n', NS, 'link', 'set', DEV, 'up']);
  const before = (await link()).stats64.tx.dropped;
  const sock = dgram.createSocket('udp4');
  try {
    sock.bind(0, LOCAL);
    await once(sock, 'listening');
    const payload = Buffer.alloc(1200, 0x5a);
    await Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<void>((resolve) => {
            sock.send(payload, 9, REMOTE, () => {
              resolve();
            });
          }),
      ),
    );
    // the reader fills its channel (CHANNEL packets) and stops; the rest waits in the kernel's queue or is dropped
    await new Promise((r) => setTimeout(r, 300));
    expect(tun.stats().readerStalls).toBeGreaterThan(0);
    return (await link()).stats64.tx.dropped - before;
  } finally {
    sock.close();
  }
}

describe('TUN transmit queue length', () => {
  it('is 4096 by default, the kernel value with 0, and the one asked for', async () => {
    for (const [opt, want] of [[undefined, 4096], [0, 500], [1000, 1000]] as const) {
      const tun = await openTun({ name: DEV, ...(opt === undefined ? {} : { txQueueLength: opt }) });
      try {
        expect((await link()).txqlen).toBe(want);
      } finally {
        await tun.close();
      }
    }
  });

  it('rejects a bad length (option or POSTERN_TUN_TXQUEUELEN) with INVALID_ARGUMENT', async () => {
    for (const bad of [-1, 1.5, 70_000]) {
      await expect(openTun({ name: DEV, txQueueLength: bad })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    process.env['POSTERN_TUN_TXQUEUELEN'] = 'many';
    try {
      const err: unknown = await openTun({ name: DEV }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TunError);
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      delete process.env['POSTERN_TUN_TXQUEUELEN'];
    }
  });

  it("a burst the reader cannot take at once: dropped beyond the kernel's 500, held by the default 4096", async () => {
    const count = 2000;
    const small = await openTun({ name: DEV, txQueueLength: 500, channelCapacity: CHANNEL });
    let droppedSmall: number;
    try {
      droppedSmall = await burst(small, count);
    } finally {
      await small.close();
    }
    const big = await openTun({ name: DEV, channelCapacity: CHANNEL });
    let droppedBig: number;
    let received = 0;
    try {
      droppedBig = await burst(big, count);
      // the burst's datagrams (IPv4 UDP), not what the kernel sends on its own when the link comes up (IPv6)
      while (received < count) {
        const got = await big.recvMany(CHANNEL);
        if (got.length === 0) break;
        received += got.filter((p) => p[0] === 0x45 && p[9] === 17).length;
      }
    } finally {
      await big.close();
    }
    // 2000 - 256 (channel) - 500 (queue) ~ 1244 dropped with the kernel's length (a few may be in flight)
    expect(droppedSmall).toBeGreaterThan(1000);
    expect(droppedBig).toBe(0);
    expect(received).toBe(count);
  });
});
