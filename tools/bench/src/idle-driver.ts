// The driver of the "memory per idle client" case, bundled by esbuild and run by the bench inside the client
// namespace: a minimal portal (Phoenix over a real websocket) that the gateway process joins, and N light
// WireGuard initiators (one @postern/wireguard Tunn each, one UDP socket for all) that the portal authorises
// on the gateway and that then handshake with it through real UDP and stay connected (keepalives).
//
//   node idle-driver.mjs <listen ip> <portal port> <clients> <handshakes per second> <gateway ip:udp port>
// stdout, one JSON object per line: {"event":"joined"} | {"event":"connected","clients":N,"ms":..} |
// {"event":"progress",...}. stdin: "go" starts the clients. The gateway's public key comes from its login URL.
// The portal is @postern/testing's TestPhoenixPortal (shared with the gateway security e2e driver).
import { createSocket, type RemoteInfo } from 'node:dgram';
import { createInterface } from 'node:readline';
// eslint-disable-next-line no-restricted-imports -- a bench driver is test harness (never shipped), like the gateway security e2e's
import { createAuthorization, gatewayInit, TestPhoenixPortal } from '@postern/testing';
import { StaticIdentity, Tunn, cryptoRng, generateKeyPair, keyToBase64, messageType, peerSlotOf, receiverIndexOf, type TunnResult } from '@postern/wireguard';

const [listen = '198.19.0.5', portStr = '8081', countStr = '1000', rateStr = '80', gatewayUdp = '198.19.0.4:52625'] = process.argv.slice(2);
const COUNT = Number(countStr);
const RATE = Number(rateStr);
const say = (o: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};

interface Client {
  readonly id: string;
  readonly tunn: Tunn;
  readonly publicKey: Uint8Array;
  readonly psk: Uint8Array;
  connected: boolean;
}

const clients: Client[] = [];
const out = new Uint8Array(2048);
const udp = createSocket('udp4');
let gateway: { address: string; port: number } | undefined;
let connectedCount = 0;
let started = 0;

function transmit(r: TunnResult): void {
  if (r.kind !== 'writeToNetwork' || gateway === undefined) return;
  // dgram sends later: the shared `out` buffer must be copied
  udp.send(Buffer.from(r.buffer.subarray(r.offset, r.offset + r.length)), gateway.port, gateway.address);
}

udp.on('message', (msg: Buffer, _rinfo: RemoteInfo) => {
  const d = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
  const type = messageType(d);
  if (type === 0) return;
  const c = clients[peerSlotOf(receiverIndexOf(d, type)) - 1];
  if (c === undefined) return;
  const now = performance.now();
  transmit(c.tunn.decapsulate(d, out, now));
  for (let r = c.tunn.flushQueued(out, now); r.kind === 'writeToNetwork'; r = c.tunn.flushQueued(out, now)) transmit(r);
  if (!c.connected && c.tunn.isConnected(now)) {
    c.connected = true;
    connectedCount++;
    if (connectedCount === COUNT) say({ event: 'connected', clients: COUNT, ms: Math.round(now - started) });
  }
});

/** Authorises client i on the gateway (create_authorization), then starts its handshake. */
function startClient(i: number): void {
  const gatewayKey = portal.publicKey;
  if (!portal.joined || gatewayKey === undefined) return;
  const keys = generateKeyPair(cryptoRng);
  const psk = new Uint8Array(32);
  cryptoRng.fill(psk);
  const tunn = new Tunn({
    identity: new StaticIdentity(keys.privateKey),
    peerPublicKey: new Uint8Array(Buffer.from(gatewayKey, 'base64')),
    presharedKey: psk,
    persistentKeepalive: 5,
    index: i + 1,
    rng: cryptoRng,
    wallClockAtZero: Date.now() - performance.now(),
  });
  const id = `idle-${String(i)}`;
  clients.push({ id, tunn, publicKey: keys.publicKey, psk, connected: false });
  const a = 64 + Math.floor(i / 250);
  const b = i % 250;
  portal.push('create_authorization', createAuthorization({
    ref: `ref-${String(i)}`,
    resource: { id: 'idle-lan', type: 'cidr', address: '198.19.1.0/24', name: 'lan', filters: [] },
    client: { id, publicKey: keyToBase64(keys.publicKey), presharedKey: keyToBase64(psk), ipv4: `100.${String(a)}.${String(b)}.2`, ipv6: `fd00:2021:1111::${(i + 2).toString(16)}` },
    iceUser: 'bench',
    icePassword: 'benchbenchbenchbenchbe',
    flowLogsToken: 'bench',
  }));
}

function initiate(c: Client): void {
  transmit(c.tunn.formatHandshakeInitiation(out, performance.now(), false));
}

let next = 0;

function go(gw: { address: string; port: number }): void {
  gateway = gw;
  started = performance.now();
  // Paced under the gateway's cookie threshold (100 handshakes/s: above it, MAC2 is demanded), and each
  // client is authorised one tick before its handshake (the gateway gives a connection 10 s to handshake).
  const perTick = Math.max(1, Math.round(RATE / 10));
  let authorised = 0;
  const authorise = (): void => {
    for (const end = Math.min(COUNT, authorised + perTick); authorised < end; authorised++) startClient(authorised);
  };
  authorise();
  const pace = setInterval(() => {
    for (const end = Math.min(authorised, next + perTick); next < end; next++) {
      const c = clients[next];
      if (c !== undefined) initiate(c);
    }
    authorise();
    if (next >= COUNT) clearInterval(pace);
  }, 100);
  // WireGuard timers: retransmits, keepalives (the gateway forgets a client silent for 15 s)
  setInterval(() => {
    const now = performance.now();
    // only clients whose handshake was started: a fresh Tunn with a persistent keepalive would initiate at
    // once, and all of them together would exceed the gateway's cookie threshold
    for (let i = 0; i < next; i++) {
      const c = clients[i];
      if (c !== undefined) transmit(c.tunn.updateTimers(out, now));
    }
    say({ event: 'progress', connected: connectedCount, started: next });
  }, 250).unref();
}

const portal = new TestPhoenixPortal({
  host: listen,
  port: Number(portStr),
  init: gatewayInit({ apiHost: listen, masquerade: true }),
  onJoin: () => {
    say({ event: 'joined' });
  },
});

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'go' || gateway !== undefined) return;
  const [address = '', port = ''] = gatewayUdp.split(':');
  go({ address, port: Number(port) });
});

udp.bind(0, listen);
