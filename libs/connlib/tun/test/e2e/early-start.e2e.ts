// openTun({ waitForWorkers: false }) (issue 11: set-up time): the device is usable before its I/O workers run,
// in a network namespace of its own (ptun-early, 198.18.8.0/24 as tun.e2e.ts).
import dgram from 'node:dgram';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, removeLeftovers, run } from '@postern/testing';
import { openTun } from '../../src/index';
import { enterNetns } from '../support/netns';
import { udp4, udp4Payload } from '../support/packets';

const NS = 'ptun-early';
const DEV = 'ptun0';
const BATCH = fileURLToPath(new URL('../support/ptun0.ip', import.meta.url));
const LOCAL = '198.18.8.1';
const REMOTE = '198.18.8.2';

let ns: Netns;
let leave: (() => void) | undefined;

beforeAll(async () => {
  removeLeftovers('ptun-early');
  ns = await Netns.create(NS);
  leave = enterNetns(NS);
});

afterAll(async () => {
  leave?.();
  await ns.destroy();
  removeLeftovers('ptun-early');
});

describe('openTun without waiting for the workers', () => {
  it('returns before the workers run, and carries packets both ways once they do', async () => {
    const tun = await openTun({ name: DEV, waitForWorkers: false });
    let running = false;
    const started = tun.started ?? Promise.reject(new Error('no started promise'));
    void started.then(() => {
      running = true;
    });
    // A worker takes tens of ms of CPU to start: it cannot be running one turn after openTun returned.
    await new Promise((r) => setImmediate(r));
    expect(running).toBe(false);
    await run('ip', ['-batch', BATCH]);
    const sock = dgram.createSocket('udp4');
    try {
      sock.bind(7777, LOCAL);
      await once(sock, 'listening');
      const got = new Promise<Buffer>((resolve) => sock.once('message', resolve));
      // Inbound (kernel -> device) is read as soon as the reader runs: recvMany waits for it.
      sock.send(Buffer.from('in'), 9999, REMOTE);
      const inbound = await tun.recvMany(10);
      expect(inbound.map((p) => Buffer.from(udp4Payload(p) ?? []).toString())).toContain('in');
      await tun.sendAll([udp4(REMOTE, 5555, LOCAL, 7777, new TextEncoder().encode('out'))]);
      expect((await got).toString()).toBe('out');
      await started;
      expect(running).toBe(true);
    } finally {
      sock.close();
      await tun.close();
    }
  });

  it('closes cleanly while the workers are still starting (no stuck worker, nothing left queued)', async () => {
    const tun = await openTun({ name: DEV, waitForWorkers: false });
    const report = await tun.close();
    expect(report.stuckWorkers).toBe(0);
    expect(report.unflushed).toBe(0);
    expect(await tun.recvMany()).toEqual([]);
  });
});
