// "Bring your own TURN" against real coturn `turnserver`s in a network namespace (prefix `pbc`, 198.18.29.0/24).
// The portal core hands a client its relay list (TURN REST credentials from `turn_servers`, or static ones):
// - an RFC 8656 client (unauthenticated ALLOCATE, 401 with REALM + NONCE, then long-term credentials; built from
//   the stun codec here) allocates on coturn with them; wrong secrets, expired REST credentials and wrong
//   passwords get 401;
// - the client's own TURN client (snownet `Allocation`, sans-IO, driven over a real UDP socket here) allocates,
//   binds a channel and relays data to a peer socket and back through coturn: with the portal's TURN REST
//   credentials (`--use-auth-secret`, as the system bench runs it), with static ones (`--lt-cred-mech --user`)
//   and without auth (`--no-auth`). Its first ALLOCATE goes without credentials; coturn's 401 brings REALM and
//   NONCE (coturn answers credentials without a NONCE with 400, RFC 8489 §9.2.4).
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { decodeMessage, encodeMessage, getAttribute, longTermKey, Method, transactionIdKey, verifyIntegrity, type Attribute, type DecodedMessage } from '@postern/stun';
import { Allocation, netAddr, relayInfosFromPortal, type AllocationFailure, type AllocationTransmit, type NetAddr, type PortalRelay } from '@postern/snownet';
import { Netns, removeLeftovers, run, xorshiftRng } from '@postern/testing';
import { EXAMPLE, Harness, KEYS } from '../support';

const PREFIX = 'pbc';
const HOST_IP = '198.18.29.1';
const TURN_IP = '198.18.29.2';
const REST_PORT = 3478;
const STATIC_PORT = 3479;
const NOAUTH_PORT = 3480;
const SECRET = 'pbc-coturn-rest-secret-0123456789';
const USER = 'pbcuser';
const PASSWORD = 'pbc-static-password';

let ns: Netns | undefined;

function turnServersYaml(secret: string, user = USER, password = PASSWORD): string {
  return `${EXAMPLE}
turn_servers:
  - name: coturn-rest
    addresses: ["${TURN_IP}:${String(REST_PORT)}"]
    auth: {type: rest, secret: ${secret}}
  - name: coturn-static
    addresses: ["${TURN_IP}:${String(STATIC_PORT)}"]
    auth: {type: static, username: ${user}, password: ${password}}
`;
}

function startCoturn(netns: Netns, port: number, auth: readonly string[]): Promise<void> {
  const proc = netns.spawn('turnserver', [
    '-n', '--no-tls', '--no-dtls', '--no-cli',
    '-L', TURN_IP, '--relay-ip', TURN_IP, '--listening-port', String(port),
    '--realm', 'firezone', ...auth,
    '--min-port', String(40000 + (port - REST_PORT) * 1000), '--max-port', String(40999 + (port - REST_PORT) * 1000),
    '--log-file', 'stdout', '--simple-log', '--pidfile', `/tmp/${PREFIX}-turnserver-${String(port)}-${String(process.pid)}.pid`,
  ]);
  let out = '';
  proc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve, reject) => {
    const end = Date.now() + 10_000;
    const poll = (): void => {
      if (/Total (UDP|General) servers/i.test(out)) setTimeout(resolve, 300);
      else if (proc.exitCode !== null || Date.now() > end) reject(new Error(`coturn did not start: ${out.slice(-1000)}`));
      else setTimeout(poll, 100);
    };
    poll();
  });
}

beforeAll(async () => {
  removeLeftovers(PREFIX);
  ns = await Netns.create(`${PREFIX}-turn`);
  await run('ip', ['link', 'add', `${PREFIX}-h0`, 'type', 'veth', 'peer', 'name', `${PREFIX}-t0`, 'netns', ns.name]);
  await run('ip', ['addr', 'add', `${HOST_IP}/24`, 'dev', `${PREFIX}-h0`]);
  await run('ip', ['link', 'set', `${PREFIX}-h0`, 'up']);
  await ns.exec('ip', ['addr', 'add', `${TURN_IP}/24`, 'dev', `${PREFIX}-t0`]);
  await ns.exec('ip', ['link', 'set', `${PREFIX}-t0`, 'up']);
  await startCoturn(ns, REST_PORT, ['--use-auth-secret', `--static-auth-secret=${SECRET}`]);
  await startCoturn(ns, STATIC_PORT, ['--lt-cred-mech', '--user', `${USER}:${PASSWORD}`]);
  await startCoturn(ns, NOAUTH_PORT, ['--no-auth']);
}, 30_000);

afterAll(async () => {
  await ns?.destroy();
  removeLeftovers(PREFIX);
});

interface Driven {
  readonly allocation: Allocation;
  /** Payloads relayed back to us (ChannelData or DATA indications from the peer). */
  readonly received: string[];
  now(): number;
  send(t: AllocationTransmit): void;
  close(): void;
}

/** Runs one snownet Allocation over a real UDP socket in the root namespace (timers and datagrams). */
async function drive(relays: readonly PortalRelay[], port: number): Promise<Driven> {
  const info = relayInfosFromPortal(relays).find((r) => r.port === port);
  if (info === undefined) throw new Error(`no relay entry for port ${String(port)} in ${JSON.stringify(relays)}`);
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, HOST_IP, resolve));
  const base = netAddr(HOST_IP, sock.address().port);
  if (base === undefined) throw new Error('bad base address');
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  const allocation = new Allocation(info, new Map([[4, base]]), xorshiftRng(7), now());
  const received: string[] = [];
  const send = (t: AllocationTransmit): void => {
    sock.send(t.payload, t.dst.port, t.dst.address);
  };
  const flush = (): void => {
    for (let t = allocation.pollTransmit(); t !== undefined; t = allocation.pollTransmit()) send(t);
  };
  sock.on('message', (msg, rinfo) => {
    const from = netAddr(rinfo.address, rinfo.port);
    if (from === undefined) return;
    // A plain Uint8Array as the client's sockets hand it over: @postern/stun's verifyIntegrity on a Node Buffer
    // (whose slice() is a view, not a copy) reports a MESSAGE-INTEGRITY mismatch on coturn's answers.
    const r = allocation.handleInput(from, new Uint8Array(msg), now());
    if (r.kind === 'data') received.push(Buffer.from(r.payload).toString());
    flush();
  });
  const timer = setInterval(() => {
    allocation.handleTimeout(now());
    flush();
  }, 20);
  flush();
  return {
    allocation,
    received,
    now,
    send,
    close() {
      clearInterval(timer);
      sock.close();
    },
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function settle(a: Allocation): Promise<'allocated' | AllocationFailure> {
  await until('the allocation to settle', () => a.state === 'allocated' || a.state === 'failed', 15_000);
  return a.state === 'allocated' ? 'allocated' : (a.failure ?? 'serverError');
}

/** A client's relay list from the portal core, as its `init` carries it (the harness clock set to `nowMs`). */
function relaysFromPortal(yaml: string, nowMs: number): PortalRelay[] {
  const h = new Harness(yaml);
  h.now = nowMs;
  const relays: unknown = h.client('pbc-client', KEYS.client).init.relays;
  if (!Array.isArray(relays)) throw new Error('no relays in init');
  return relays as PortalRelay[];
}

/** Relayed address, or the error code: ALLOCATE as RFC 8656 clients do it (unauthenticated first, then the challenge). */
async function rfcAllocate(relay: PortalRelay): Promise<string | number> {
  const [ip = '', portText = ''] = relay.addr.split(/:(?=\d+$)/);
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, HOST_IP, resolve));
  const transact = (attributes: Attribute[], integrity?: Uint8Array): Promise<DecodedMessage> => {
    const transactionId = new Uint8Array(randomBytes(12));
    const bytes = encodeMessage({ method: Method.Allocate, cls: 'request', transactionId, attributes }, integrity === undefined ? {} : { integrity });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('no answer from coturn')); }, 5000);
      sock.on('message', (buf) => {
        const r = decodeMessage(new Uint8Array(buf));
        if (!r.ok || transactionIdKey(r.message.transactionId) !== transactionIdKey(transactionId)) return;
        clearTimeout(timer);
        sock.removeAllListeners('message');
        resolve(r.message);
      });
      sock.send(bytes, Number(portText), ip);
    });
  };
  try {
    const transport: Attribute = { name: 'REQUESTED-TRANSPORT', protocol: 17 };
    const challenge = await transact([transport]);
    const realm = getAttribute(challenge, 'REALM')?.value;
    const nonce = getAttribute(challenge, 'NONCE')?.value;
    expect(getAttribute(challenge, 'ERROR-CODE')?.code).toBe(401);
    if (realm === undefined || nonce === undefined || relay.username === undefined || relay.password === undefined) throw new Error('no challenge');
    expect(realm).toBe('firezone');
    const key = longTermKey(relay.username, realm, relay.password);
    const res = await transact([transport, { name: 'USERNAME', value: relay.username }, { name: 'REALM', value: realm }, { name: 'NONCE', value: nonce }], key);
    if (res.cls !== 'success') return getAttribute(res, 'ERROR-CODE')?.code ?? 0;
    expect(verifyIntegrity(res, key)).toBe('ok');
    const relayed = getAttribute(res, 'XOR-RELAYED-ADDRESS')?.address;
    await transact([{ name: 'LIFETIME', seconds: 0 }, { name: 'USERNAME', value: relay.username }, { name: 'REALM', value: realm }, { name: 'NONCE', value: nonce }], key).catch(() => undefined);
    return relayed === undefined ? 'no relayed address' : relayed.address;
  } finally {
    sock.close();
  }
}

function entryFor(relays: readonly PortalRelay[], port: number): PortalRelay {
  const r = relays.find((x) => x.addr.endsWith(`:${String(port)}`));
  if (r === undefined) throw new Error(`no relay entry for port ${String(port)}`);
  return r;
}

describe('portal turn_servers credentials against real coturn turnservers (RFC 8656 client)', () => {
  it('allocates with per-device TURN REST credentials (--use-auth-secret) and with static ones (--user)', async () => {
    const relays = relaysFromPortal(turnServersYaml(SECRET), Date.now());
    expect(await rfcAllocate(entryFor(relays, REST_PORT))).toBe(TURN_IP);
    expect(await rfcAllocate(entryFor(relays, STATIC_PORT))).toBe(TURN_IP);
  });

  const refused: [string, string, number, number][] = [
    ['a wrong REST secret', turnServersYaml('not-the-secret-of-this-coturn'), REST_PORT, Date.now()],
    ['expired REST credentials (issued 8 days ago with a 7-day lifetime)', turnServersYaml(SECRET), REST_PORT, Date.now() - 8 * 24 * 3600_000],
    ['a wrong static password', turnServersYaml(SECRET, USER, 'wrong-password-x'), STATIC_PORT, Date.now()],
  ];
  for (const [what, yaml, port, nowMs] of refused) {
    it(`gets 401 with ${what}`, async () => {
      expect(await rfcAllocate(entryFor(relaysFromPortal(yaml, nowMs), port))).toBe(401);
    });
  }
});

/** Allocates through snownet's Allocation, binds a channel to a peer socket and checks data both ways. */
async function snownetRelaysBothWays(relays: readonly PortalRelay[], port: number): Promise<void> {
  const d = await drive(relays, port);
  const peer = createSocket('udp4');
  try {
    expect(await settle(d.allocation)).toBe('allocated');
    const relayed = d.allocation.relayedAddresses();
    expect(relayed.map((r) => r.address)).toEqual([TURN_IP]);
    await new Promise<void>((resolve) => peer.bind(0, HOST_IP, resolve));
    const peerAddr: NetAddr | undefined = netAddr(HOST_IP, peer.address().port);
    if (peerAddr === undefined) throw new Error('bad peer address');
    const atPeer: string[] = [];
    const fromAddrs: string[] = [];
    peer.on('message', (msg, rinfo) => {
      atPeer.push(msg.toString());
      fromAddrs.push(`${rinfo.address}:${String(rinfo.port)}`);
      peer.send(Buffer.from(`echo ${msg.toString()}`), rinfo.port, rinfo.address); // back through the relayed address
    });
    // The channel binds once the allocation exists (wrap is undefined until CHANNEL-BIND is in flight).
    let sent = 0;
    await until('a ping at the peer and its echo back through coturn', () => {
      const t = d.allocation.wrap(peerAddr, Buffer.from(`ping ${String(sent)}`), d.now());
      if (t !== undefined) {
        d.send(t);
        sent++;
      }
      return d.received.length > 0;
    });
    expect(atPeer[0]).toMatch(/^ping \d+$/);
    expect(fromAddrs).toContain(`${relayed[0]?.address ?? ''}:${String(relayed[0]?.port ?? 0)}`);
    expect(d.received[0]).toMatch(/^echo ping \d+$/);
    expect(d.allocation.relayedRxBytes).toBeGreaterThan(0);
  } finally {
    peer.close();
    d.close();
  }
}

describe("the client's TURN client (snownet Allocation) on coturn", () => {
  it('allocates, binds a channel and relays both ways through coturn --no-auth', async () => {
    const yaml = `${turnServersYaml(SECRET)}  - name: coturn-open\n    addresses: ["${TURN_IP}:${String(NOAUTH_PORT)}"]\n    auth: {type: static, username: anyone, password: anything}\n`;
    await snownetRelaysBothWays(relaysFromPortal(yaml, Date.now()), NOAUTH_PORT);
  });

  it('allocates with TURN REST credentials on an authenticating coturn (--use-auth-secret, the bench setup) and relays both ways', async () => {
    await snownetRelaysBothWays(relaysFromPortal(turnServersYaml(SECRET), Date.now()), REST_PORT);
  });

  it('allocates with static credentials on an authenticating coturn (--lt-cred-mech --user) and relays both ways', async () => {
    await snownetRelaysBothWays(relaysFromPortal(turnServersYaml(SECRET), Date.now()), STATIC_PORT);
  });

  it('fails as unauthorized (not serverError) with a wrong static password', async () => {
    const d = await drive(relaysFromPortal(turnServersYaml(SECRET, USER, 'wrong-password-x'), Date.now()), STATIC_PORT);
    try {
      expect(await settle(d.allocation)).toBe('unauthorized');
    } finally {
      d.close();
    }
  });
});
