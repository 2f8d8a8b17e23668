// Tun.readable(): the non-consuming wait the tunnel loop uses when it has nothing to do (prefix ptun, its own
// namespace ptun-r and device ptun1 on 198.18.8.0/24: a datagram to 198.18.8.2 is routed into the device).
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, removeLeftovers, run } from '@postern/testing';
import { openTun } from '../../src/index';
import { enterNetns } from '../support/netns';

const NS = 'ptun-r';
const DEV = 'ptun1';
let ns: Netns;
let leave: (() => void) | undefined;

beforeAll(async () => {
  removeLeftovers('ptun-r');
  ns = await Netns.create(NS);
  leave = enterNetns(NS);
});

afterAll(async () => {
  leave?.();
  await ns.destroy();
  removeLeftovers('ptun-r');
});

describe.each([false, true])('TUN readable() (offloads %s)', (offloads) => {
  it('waits while the device is empty, resolves when a packet arrives, consumes nothing, rejects CLOSED after close', async () => {
    const tun = await openTun({ name: DEV, queues: 1, offloads });
    // no IPv6 on the device: its router solicitations and MLD reports would make it readable on their own
    await run('sysctl', ['-qw', `net.ipv6.conf.${DEV}.disable_ipv6=1`]);
    await run('ip', ['addr', 'add', '198.18.8.1/24', 'dev', DEV]);
    await run('ip', ['link', 'set', DEV, 'up']);
    const sock = dgram.createSocket('udp4');
    try {
      sock.bind(0, '198.18.8.1');
      await once(sock, 'listening');
      await tun.started;
      let woke = false;
      const wait = tun.readable().then(() => (woke = true));
      await new Promise((r) => setTimeout(r, 50));
      expect(woke).toBe(false);
      sock.send(Buffer.from('hello'), 9, '198.18.8.2');
      await wait;
      expect(woke).toBe(true);
      await tun.readable(); // still there: resolves at once
      const got = tun.tryRecvMany();
      expect(got.length).toBeGreaterThanOrEqual(1);
      expect(got.some((p) => Buffer.from(p.subarray(p.length - 5)).toString() === 'hello')).toBe(true);
    } finally {
      sock.close();
      await tun.close();
    }
    await expect(tun.readable()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
