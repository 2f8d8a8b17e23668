// postern-relay under attack, with real sockets: a namespace `prls-relay` (198.18.17.2) reached over a veth
// from the root namespace, where the test's clients live on two addresses (198.18.17.1 the attacker,
// 198.18.17.3 an honest host) and a UDP peer listens. Wrong credentials, a per-host allocation flood up to the
// quota (486) and the port range (508), garbage and oversized datagrams: the relay answers each with the right
// error, keeps serving the honest host's data, stays healthy, and logs no credential.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { decodeChannelData, decodeMessage, encodeChannelData, encodeMessage, getAttribute, longTermKey, Method, type Attribute, type DecodedMessage } from '@postern/stun';
import { keepLogs, Netns, registerSecret, removeLeftovers, run, xorshiftRng } from '@postern/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleRelay, waitFor } from '../support/topology';

const PREFIX = 'prls';
const ATTACKER_IP = '198.18.17.1';
const RELAY_IP = '198.18.17.2';
const HONEST_IP = '198.18.17.3';
const PORT = 3478;
const USER = 'prlsuser';
const PASSWORD = 'prls-relay-password-7f3a9c';
const LOWEST = 51000;
const HIGHEST = 51007; // 8 relayed ports: one host may hold 6 (three quarters)

let ns: Netns | undefined;
let relay: ChildProcess | undefined;
let logFile = '';
const sockets: Socket[] = [];

async function cleanup(): Promise<void> {
  for (const s of sockets.splice(0)) s.close();
  relay?.kill('SIGKILL');
  await ns?.destroy();
  ns = undefined;
  removeLeftovers(PREFIX);
}

beforeAll(async () => {
  removeLeftovers(PREFIX);
  registerSecret(PASSWORD, 'relay --user password');
  const bundle = await bundleRelay('relay-security-e2e');
  ns = await Netns.create(`${PREFIX}-relay`);
  await run('ip', ['link', 'add', `${PREFIX}-h0`, 'type', 'veth', 'peer', 'name', `${PREFIX}-r0`, 'netns', ns.name]);
  await run('ip', ['addr', 'add', `${ATTACKER_IP}/29`, 'dev', `${PREFIX}-h0`]);
  await run('ip', ['addr', 'add', `${HONEST_IP}/29`, 'dev', `${PREFIX}-h0`]);
  await run('ip', ['link', 'set', `${PREFIX}-h0`, 'up']);
  await ns.exec('ip', ['addr', 'add', `${RELAY_IP}/29`, 'dev', `${PREFIX}-r0`]);
  await ns.exec('ip', ['link', 'set', `${PREFIX}-r0`, 'up']);
  relay = ns.spawn(process.execPath, [
    bundle, '--no-portal', '--public-ip4-addr', RELAY_IP, '--listen-port', String(PORT), '--lowest-port', String(LOWEST), '--highest-port', String(HIGHEST),
    '--user', `${USER}:${PASSWORD}`, '--health-check-addr', `${RELAY_IP}:8080`, '--log-format', 'json', '--log-filter', 'debug',
  ]);
  logFile = keepLogs(relay, 'relay', 'security-e2e-postern-relay');
  await waitFor('postern-relay /healthz', async () => (await fetch(`http://${RELAY_IP}:8080/healthz`)).ok);
}, 90_000);

afterAll(cleanup, 60_000);

/** A UDP TURN client bound to one local address, long-term credentials with the 401/438 dance. */
class UdpClient {
  private nonce: string | undefined;
  private readonly tids = xorshiftRng(Math.floor(Math.random() * 2 ** 31));
  private readonly inbox: Uint8Array[] = [];
  private wake: (() => void) | undefined;

  private constructor(readonly sock: Socket, private readonly key: Uint8Array, private readonly user: string) {
    sock.on('message', (b) => {
      this.inbox.push(new Uint8Array(b));
      this.wake?.();
    });
  }

  static async open(local: string, password = PASSWORD, user = USER): Promise<UdpClient> {
    const sock = createSocket('udp4');
    sockets.push(sock);
    await new Promise<void>((resolve) => sock.bind(0, local, resolve));
    return new UdpClient(sock, longTermKey(user, 'firezone', password), user);
  }

  send(bytes: Uint8Array): void {
    this.sock.send(bytes, PORT, RELAY_IP);
  }

  async next(timeoutMs = 3000): Promise<Uint8Array | undefined> {
    const end = Date.now() + timeoutMs;
    while (this.inbox.length === 0 && Date.now() < end) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, end - Date.now());
        this.wake = () => { clearTimeout(t); resolve(); };
      });
    }
    return this.inbox.shift();
  }

  async request(method: number, attrs: Attribute[]): Promise<DecodedMessage> {
    for (let attempt = 0; ; attempt++) {
      const transactionId = new Uint8Array(12);
      this.tids.fill(transactionId);
      const all: Attribute[] = this.nonce === undefined ? attrs : [...attrs, { name: 'USERNAME', value: this.user }, { name: 'REALM', value: 'firezone' }, { name: 'NONCE', value: this.nonce }];
      this.send(encodeMessage({ method, cls: 'request', transactionId, attributes: all }, this.nonce === undefined ? { fingerprint: true } : { integrity: this.key, fingerprint: true }));
      const b = await this.next();
      if (!b) throw new Error('no answer from the relay');
      const m = decodeMessage(b);
      if (!m.ok) throw m.error;
      const code = getAttribute(m.message, 'ERROR-CODE')?.code;
      const fresh = getAttribute(m.message, 'NONCE')?.value;
      if (attempt === 0 && (code === 401 || code === 438) && fresh !== undefined && fresh !== this.nonce) {
        this.nonce = fresh;
        continue;
      }
      return m.message;
    }
  }

  allocate(): Promise<DecodedMessage> {
    return this.request(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }]);
  }
}

const code = (m: DecodedMessage): number | undefined => getAttribute(m, 'ERROR-CODE')?.code;

async function healthy(): Promise<boolean> {
  return (await fetch(`http://${RELAY_IP}:8080/healthz`)).ok;
}

describe('postern-relay under attack (real sockets, prls namespace)', () => {
  it('refuses wrong credentials with 401 and stays up', async () => {
    for (const [user, pass] of [[USER, 'wrong-password'], ['nobody', PASSWORD]] as const) {
      const c = await UdpClient.open(ATTACKER_IP, pass, user);
      const r = await c.allocate();
      expect(code(r)).toBe(401);
      expect(getAttribute(r, 'XOR-RELAYED-ADDRESS')).toBeUndefined();
    }
    expect(await healthy()).toBe(true);
  });

  it('a flooding host gets 486 beyond its quota, the range 508 when full; the honest host relays throughout', async () => {
    const peer = createSocket('udp4');
    sockets.push(peer);
    await new Promise<void>((resolve) => peer.bind(40000, ATTACKER_IP, resolve));
    const atPeer: Buffer[] = [];
    peer.on('message', (b) => atPeer.push(b));

    const honest = await UdpClient.open(HONEST_IP);
    const relayed = getAttribute(await honest.allocate(), 'XOR-RELAYED-ADDRESS')?.address;
    expect(relayed?.address).toBe(RELAY_IP);
    expect((await honest.request(Method.ChannelBind, [{ name: 'CHANNEL-NUMBER', channel: 0x4000 }, { name: 'XOR-PEER-ADDRESS', address: { family: 4, address: ATTACKER_IP, port: 40000 } }])).cls).toBe('success');

    const codes: (number | undefined)[] = [];
    for (let i = 0; i < 9; i++) codes.push(code(await (await UdpClient.open(ATTACKER_IP)).allocate()));
    expect(codes.filter((c) => c === undefined)).toHaveLength(6);
    expect(codes.filter((c) => c === 486)).toHaveLength(3);
    const second = await UdpClient.open(HONEST_IP);
    expect(code(await second.allocate())).toBeUndefined(); // the 8th and last port
    expect(code(await (await UdpClient.open(HONEST_IP)).allocate())).toBe(508);

    honest.send(encodeChannelData(0x4000, new TextEncoder().encode('still here')));
    await waitFor('data at the peer', () => Promise.resolve(atPeer.some((b) => b.toString() === 'still here')), 5000);
    peer.send('pong', relayed?.port ?? 0, RELAY_IP);
    const back = await honest.next();
    const cd = back ? decodeChannelData(back) : undefined;
    expect(cd?.ok && Buffer.from(cd.value.data).toString()).toBe('pong');
  });

  it('garbage and oversized datagrams are dropped; the relay still answers BINDING and /healthz', async () => {
    const c = await UdpClient.open(ATTACKER_IP);
    const rng = xorshiftRng(99);
    for (let i = 0; i < 2000; i++) {
      const b = new Uint8Array(1 + (rng.nextU32() % 1400));
      rng.fill(b);
      if (i % 3 === 0 && b.length >= 20) b.set([0x00, 0x03, 0xff, 0xfc, 0x21, 0x12, 0xa4, 0x42]); // STUN-shaped, length lies
      c.send(b);
    }
    c.send(new Uint8Array(60_000));
    await new Promise((r) => setTimeout(r, 500));
    const binding = await c.request(Method.Binding, []);
    expect(binding.cls).toBe('success');
    expect(getAttribute(binding, 'XOR-MAPPED-ADDRESS')?.address.address).toBe(ATTACKER_IP);
    expect(await healthy()).toBe(true);
    expect(relay?.exitCode).toBeNull();
  });

  it('logged every refusal without the password (the log is kept for check-secrets)', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const text = readFileSync(logFile, 'utf8');
    for (const reason of ['bad-integrity', 'unknown-user']) expect(text).toContain(`"reason":"${reason}"`);
    expect(text).not.toContain(PASSWORD);
  });
});
