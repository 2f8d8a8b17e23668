// Relayed packets/s and Gbit/s through postern-relay vs coturn's turnserver, same traffic, same run.
// The test process (root namespace) is both the TURN client and the peer; the relays run in `prl-relay`.
// Client -> peer: ChannelData blasted with socket-factory (GSO) to the relay, counted at the peer.
// Peer -> client: plain UDP blasted to the relayed address, counted (as ChannelData) at the client.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindUdp, type SocketAddr, type UdpSocket } from '@postern/socket-factory';
import {
  decodeMessage,
  encodeMessage,
  getAttribute,
  longTermKey,
  Method,
  transactionIdKey,
  writeChannelDataHeader,
  type Attribute,
  type DecodedMessage,
} from '@postern/stun';
import { run } from '@postern/testing';
import { COTURN_PORT, createTopology, HOST_IP, PASSWORD, POSTERN_PORT, RELAY_HOST_SIDE_IP, RELAY_IP, startCoturn, startPostern, USER, type Topology } from '../support/topology';

const PAYLOAD = Number(process.env['RELAY_BENCH_PAYLOAD'] ?? 1200);
const SECONDS = Number(process.env['RELAY_BENCH_SECONDS'] ?? 3);

let topo: Topology | undefined;

beforeAll(async () => {
  topo = await createTopology('relay-bench');
  await run('ip', ['route', 'add', '198.18.16.0/25', 'via', RELAY_HOST_SIDE_IP]);
  await startCoturn(topo);
  await startPostern(topo);
}, 60_000);

afterAll(async () => {
  await topo?.destroy();
});

async function transact(sock: UdpSocket, server: SocketAddr, method: number, attrs: Attribute[], key?: Uint8Array): Promise<DecodedMessage> {
  const tid = new Uint8Array(randomBytes(12));
  const bytes = encodeMessage({ method, cls: 'request', transactionId: tid, attributes: attrs }, key ? { integrity: key, fingerprint: true } : {});
  for (let attempt = 0; attempt < 10; attempt++) {
    sock.sendQueue.push(server, bytes);
    sock.sendQueue.flush();
    const until = performance.now() + 300;
    while (performance.now() < until) {
      for (const d of sock.tryRecvMany()) {
        const r = decodeMessage(d.data);
        if (r.ok && transactionIdKey(r.message.transactionId) === transactionIdKey(tid)) return r.message;
      }
      await new Promise((res) => setTimeout(res, 5));
    }
  }
  throw new Error(`no answer to method ${method}`);
}

/** ALLOCATE (401 dance) + CHANNEL-BIND 0x4000 to `peer`; returns the relayed port. */
async function allocate(sock: UdpSocket, server: SocketAddr, peer: SocketAddr): Promise<number> {
  const first = await transact(sock, server, Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }]);
  const nonce = getAttribute(first, 'NONCE')?.value ?? '';
  const realm = getAttribute(first, 'REALM')?.value ?? '';
  const key = longTermKey(USER, realm, PASSWORD);
  const auth: Attribute[] = [
    { name: 'USERNAME', value: USER },
    { name: 'REALM', value: realm },
    { name: 'NONCE', value: nonce },
  ];
  const a = await transact(sock, server, Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }, ...auth], key);
  const port = getAttribute(a, 'XOR-RELAYED-ADDRESS')?.address.port;
  if (port === undefined) throw new Error(`allocate failed: ${JSON.stringify(getAttribute(a, 'ERROR-CODE'))}`);
  const cb = await transact(sock, server, Method.ChannelBind, [{ name: 'CHANNEL-NUMBER', channel: 0x4000 }, { name: 'XOR-PEER-ADDRESS', address: peer }, ...auth], key);
  if (cb.cls !== 'success') throw new Error('channel bind failed');
  return port;
}

/** Sends as fast as the socket takes it for `seconds`, while `sink` counts what arrives. */
async function blast(from: UdpSocket, to: SocketAddr, frame: (buf: Uint8Array) => number, sink: UdpSocket, seconds: number): Promise<{ pps: number; gbps: number; sent: number; received: number }> {
  let received = 0;
  let bytes = 0;
  let stop = false;
  const counter = (async () => {
    while (!stop) {
      const got = sink.tryRecvMany();
      for (const d of got) {
        received++;
        bytes += d.data.length;
      }
      if (got.length === 0) await new Promise((r) => setTimeout(r, 1));
    }
  })();
  let sent = 0;
  const len = frame(new Uint8Array(2048));
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) {
      const buf = from.sendQueue.reserve(to, len);
      frame(buf);
      from.sendQueue.commit(len);
    }
    sent += from.sendQueue.flush();
    if (sent % 1024 < 64) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await counter;
  const secs = (performance.now() - t0) / 1000;
  return { pps: received / secs, gbps: (bytes * 8) / secs / 1e9, sent, received };
}

interface Figures {
  c2p: { pps: number; gbps: number; sent: number; received: number };
  p2c: { pps: number; gbps: number; sent: number; received: number };
}

async function measure(port: number): Promise<Figures> {
  const client = await bindUdp({ address: HOST_IP, port: 0, dualStack: false, portFallback: false, recvBufferSize: 16 << 20, sendBufferSize: 16 << 20 });
  const peer = await bindUdp({ address: HOST_IP, port: 0, dualStack: false, portFallback: false, recvBufferSize: 16 << 20, sendBufferSize: 16 << 20 });
  try {
    const server = client.addr(RELAY_HOST_SIDE_IP, port);
    const relayedPort = await allocate(client, server, peer.local);
    const relayed = peer.addr(RELAY_IP, relayedPort);
    // Warm up the path (and coturn's permission) with one packet each way.
    const c2p = await blast(client, server, (buf) => {
      writeChannelDataHeader(buf, 0, 0x4000, PAYLOAD);
      return 4 + PAYLOAD;
    }, peer, SECONDS);
    const p2c = await blast(peer, relayed, () => PAYLOAD, client, SECONDS);
    return { c2p, p2c };
  } finally {
    await client.close();
    await peer.close();
  }
}

describe('relay throughput: postern-relay vs coturn turnserver', () => {
  it(`relays ${PAYLOAD}-byte datagrams both ways (${SECONDS} s each direction)`, async () => {
    const coturn = await measure(COTURN_PORT);
    const ours = await measure(POSTERN_PORT);
    const row = (name: string, f: Figures): string =>
      `${name.padEnd(14)} c->p ${Math.round(f.c2p.pps).toString().padStart(8)} pps ${f.c2p.gbps.toFixed(3)} Gbit/s (sent ${f.c2p.sent}) | p->c ${Math.round(f.p2c.pps).toString().padStart(8)} pps ${f.p2c.gbps.toFixed(3)} Gbit/s (sent ${f.p2c.sent})`;
    process.stdout.write(
      [
        '',
        `relay bench, payload ${PAYLOAD} B, ${SECONDS} s per direction`,
        row('coturn', coturn),
        row('postern-relay', ours),
        `ratio postern/coturn: c->p ${(ours.c2p.pps / coturn.c2p.pps).toFixed(2)}, p->c ${(ours.p2c.pps / coturn.p2c.pps).toFixed(2)}, total ${((ours.c2p.pps + ours.p2c.pps) / (coturn.c2p.pps + coturn.p2c.pps)).toFixed(2)}`,
        '',
      ].join('\n'),
    );
    expect(ours.c2p.received).toBeGreaterThan(0);
    expect(ours.p2c.received).toBeGreaterThan(0);
  });
});
