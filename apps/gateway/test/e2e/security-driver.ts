// The malicious side of the gateway security e2e (security.e2e.ts), bundled with esbuild and run in the client
// namespace: a minimal portal (Phoenix over a real websocket) that the real gateway process joins, and WireGuard
// clients (one @postern/wireguard Tunn each, one UDP socket for all) that the portal authorises on the gateway
// and that then send whatever inner IP packets the test hands them, spoofed or not.
//
//   node security-driver.mjs <listen ip> <portal port> <gateway ip:udp port>
// stdin, one JSON object per line:
//   {"cmd":"authorize","client":N,"ipv4":"100.64.0.2","resource":{...},"expires_at":<unix s>?}
//   {"cmd":"send","client":N,"packet":"<hex of an IP packet>"}
//   {"cmd":"reject","client":N,"resource_id":"..."}
// stdout, one JSON object per line: {"event":"joined"} | {"event":"connected","client":N} |
// {"event":"inner","client":N,"packet":"<hex>"} (a packet the gateway sent to client N through its tunnel).
// With POSTERN_TEST_LOGS set, every client's private key and PSK is registered there for check-secrets.
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { createAuthorization, gatewayInit, registerSecret, TestPhoenixPortal } from '@postern/testing';
import { StaticIdentity, Tunn, cryptoRng, generateKeyPair, keyToBase64, messageType, peerSlotOf, receiverIndexOf, type TunnResult } from '@postern/wireguard';

const [listen = '198.18.27.2', portStr = '8082', gatewayUdp = '198.18.27.1:52625'] = process.argv.slice(2);
const [gwAddress = '', gwPort = ''] = gatewayUdp.split(':');
const say = (o: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};

interface Command {
  readonly cmd: string;
  readonly client: number;
  readonly ipv4?: string;
  readonly resource?: unknown;
  readonly resource_id?: string;
  readonly expires_at?: number;
  readonly packet?: string;
}

interface Client {
  readonly tunn: Tunn;
  readonly publicKey: Uint8Array;
  readonly psk: Uint8Array;
  connected: boolean;
}

const clients = new Map<number, Client>();
const out = new Uint8Array(4096);
const udp = createSocket('udp4');
const portal = new TestPhoenixPortal({
  host: listen,
  port: Number(portStr),
  init: gatewayInit({ apiHost: listen, masquerade: false }),
  onJoin: () => {
    say({ event: 'joined' });
  },
});

function transmit(r: TunnResult): void {
  if (r.kind !== 'writeToNetwork') return;
  // dgram sends later: the shared `out` buffer must be copied
  udp.send(Buffer.from(r.buffer.subarray(r.offset, r.offset + r.length)), Number(gwPort), gwAddress);
}

function check(n: number, c: Client, now: number): void {
  if (!c.connected && c.tunn.isConnected(now)) {
    c.connected = true;
    say({ event: 'connected', client: n });
  }
}

udp.on('message', (msg: Buffer) => {
  const d = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
  const type = messageType(d);
  if (type === 0) return;
  const n = peerSlotOf(receiverIndexOf(d, type));
  const c = clients.get(n);
  if (c === undefined) return;
  const now = performance.now();
  const r = c.tunn.decapsulate(d, out, now);
  if (r.kind === 'writeToTunnelV4' || r.kind === 'writeToTunnelV6') {
    say({ event: 'inner', client: n, packet: Buffer.from(r.buffer.subarray(r.offset, r.offset + r.length)).toString('hex') });
  } else {
    transmit(r);
  }
  for (let q = c.tunn.flushQueued(out, now); q.kind === 'writeToNetwork'; q = c.tunn.flushQueued(out, now)) transmit(q);
  check(n, c, now);
});

/** Authorises client N for a resource (create_authorization); a new client then starts its handshake. */
function authorize(c: Command): void {
  const key = portal.publicKey;
  if (!portal.joined || key === undefined || c.ipv4 === undefined) throw new Error('authorize before the gateway joined');
  const gatewayKey = new Uint8Array(Buffer.from(key, 'base64'));
  let cl = clients.get(c.client);
  const fresh = cl === undefined;
  if (cl === undefined) {
    const keys = generateKeyPair(cryptoRng);
    const psk = new Uint8Array(32);
    cryptoRng.fill(psk);
    // the gateway receives the PSK (and could log it); the private key never leaves this process
    if (process.env['POSTERN_TEST_LOGS'] !== undefined) {
      registerSecret(keyToBase64(psk), `gateway security e2e: client ${String(c.client)} PSK`);
      registerSecret(keyToBase64(keys.privateKey), `gateway security e2e: client ${String(c.client)} private key`);
    }
    const tunn = new Tunn({
      identity: new StaticIdentity(keys.privateKey),
      peerPublicKey: gatewayKey,
      presharedKey: psk,
      persistentKeepalive: 5,
      index: c.client,
      rng: cryptoRng,
      wallClockAtZero: Date.now() - performance.now(),
    });
    cl = { tunn, publicKey: keys.publicKey, psk, connected: false };
  }
  portal.push('create_authorization', createAuthorization({
    ref: `ref-${String(c.client)}-${String(Date.now())}`,
    resource: c.resource,
    client: { id: `client-${String(c.client)}`, publicKey: keyToBase64(cl.publicKey), presharedKey: keyToBase64(cl.psk), ipv4: c.ipv4, ipv6: `fd00:2021:1111::${c.client.toString(16)}` },
    iceUser: 'evil',
    icePassword: 'evilevilevilevilevilev',
    flowLogsToken: 'security',
    ...(c.expires_at === undefined ? {} : { expiresAt: c.expires_at }),
  }));
  if (!fresh) return;
  const started = cl;
  // the handshake one moment later, once the gateway has taken the authorisation
  setTimeout(() => {
    clients.set(c.client, started);
    transmit(started.tunn.formatHandshakeInitiation(out, performance.now(), false));
  }, 200);
}

function command(c: Command): void {
  if (c.cmd === 'authorize') {
    authorize(c);
  } else if (c.cmd === 'send' && c.packet !== undefined) {
    const cl = clients.get(c.client);
    if (cl === undefined) throw new Error(`no client ${String(c.client)}`);
    transmit(cl.tunn.encapsulate(new Uint8Array(Buffer.from(c.packet, 'hex')), out, performance.now()));
  } else if (c.cmd === 'reject' && portal.joined) {
    portal.push('reject_access', { client_id: `client-${String(c.client)}`, resource_id: c.resource_id });
  }
}

// WireGuard timers: retransmits, keepalives
setInterval(() => {
  const now = performance.now();
  for (const [n, c] of clients) {
    transmit(c.tunn.updateTimers(out, now));
    check(n, c, now);
  }
}, 250).unref();

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === '') return;
  command(JSON.parse(line) as Command);
});

udp.bind(0, listen);
