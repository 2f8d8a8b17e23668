// `--relay-socket-backend auto`: the first `relayBatchedSockets` relayed sockets at a time are batched
// (recvmmsg worker + sendmmsg/GSO), later ones node:dgram; a freed allocation gives its batched slot back.
// A real relay on 127.0.0.1 with real TURN allocations (no namespaces needed).
import { createSocket } from 'node:dgram';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { xorshiftRng } from '@postern/testing';
import { Relay } from '../../src/relay';
import { TestTurnClient } from '../support/turn-client';

const relays: Relay[] = [];
const clients: TestTurnClient[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  for (const r of relays) await r.close();
});

async function startRelay(relayBackend: 'auto' | 'dgram', relayBatchedSockets: number, lowestPort: number, allowedPeers: string[] = []): Promise<Relay> {
  const r = await Relay.start({
    publicIp4: '127.0.0.1',
    publicIp6: undefined,
    listenPort: 0,
    lowestPort,
    highestPort: lowestPort + 99,
    realm: 'firezone',
    users: new Map([['u', 'p']]),
    authSecret: undefined,
    allowedPeers,
    deniedPeers: [],
    software: 'test',
    lastChannel: 0x7fff,
    relayBackend,
    relayBatchedSockets,
    rng: xorshiftRng(3),
    logger: pino({ level: 'silent' }),
  });
  relays.push(r);
  return r;
}

async function allocate(r: Relay): Promise<TestTurnClient> {
  const c = await TestTurnClient.open({ address: '127.0.0.1', port: r.localPort }, 'u', 'p');
  clients.push(c);
  const a = await c.allocate();
  expect(a.response.cls).toBe('success');
  return c;
}

async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe('relayed socket backends', () => {
  it('auto: batched for the first N at a time, dgram after, the slot comes back when an allocation is freed', async () => {
    const r = await startRelay('auto', 1, 52100);
    const a = await allocate(r);
    await until(() => r.relayedBackends().length === 1);
    expect(r.relayedBackends()).toEqual(['batched']);
    await allocate(r);
    await until(() => r.relayedBackends().length === 2);
    expect(r.relayedBackends().sort()).toEqual(['batched', 'dgram']);
    expect((await a.refresh(0)).cls).toBe('success'); // frees the batched one
    await until(() => r.relayedBackends().length === 1);
    expect(r.relayedBackends()).toEqual(['dgram']);
    await allocate(r);
    await until(() => r.relayedBackends().length === 2);
    expect(r.relayedBackends().sort()).toEqual(['batched', 'dgram']);
  });

  it('dgram (and auto with 0 batched sockets): every relayed socket on node:dgram', async () => {
    for (const [backend, n, port] of [['dgram', 8, 52300], ['auto', 0, 52500]] as const) {
      const r = await startRelay(backend, n, port);
      await allocate(r);
      await allocate(r);
      await until(() => r.relayedBackends().length === 2);
      expect(r.relayedBackends()).toEqual(['dgram', 'dgram']);
    }
  });

  it('keeps ChannelData that arrives while a batched relayed socket is still opening, and sends it once open', async () => {
    const r = await startRelay('auto', 8, 52700, ['127.0.0.0/8']);
    const peer = createSocket('udp4');
    const got: string[] = [];
    peer.on('message', (b) => got.push(b.toString()));
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
    try {
      const c = await allocate(r);
      // the worker thread of the batched socket takes tens of ms to start; the CHANNEL-BIND takes far less
      expect((await c.channelBind(0x4000, { family: 4, address: '127.0.0.1', port: peer.address().port })).cls).toBe('success');
      for (let i = 0; i < 5; i++) c.sendChannelData(0x4000, Buffer.from(`early ${String(i)}`));
      await until(() => got.length === 5);
      expect(got).toEqual(['early 0', 'early 1', 'early 2', 'early 3', 'early 4']);
      expect(r.relayedBackends()).toEqual(['batched']);
    } finally {
      peer.close();
    }
  });
});
