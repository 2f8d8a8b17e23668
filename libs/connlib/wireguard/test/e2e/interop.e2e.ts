// Our WireGuard on a real TUN in namespace pwg-a against wireguard-go + wg in pwg-b (underlay
// 198.18.4.0/26, tunnel 198.18.4.64/26). Steps run in order and share the namespaces.
// Both private keys and every PSK are registered for check-secrets, and the output of every process started here
// (wireguard-go, wg, ping, iperf3, tcpdump) is kept under <test logs>/wireguard/.
import { Netns, keepLogs, link, registerSecret, removeLeftovers, writeLog } from '@postern/testing';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cryptoRng, generateKeyPair, keyToBase64, type KeyPair } from '../../src/index';
import { closeFd, enterNetns, openNetns, openTun } from './support/native';
import { OurPeer } from './support/our-peer';
import { LOG_SUITE, WireguardGo, type WgGoConfig } from './support/wireguard-go';

const PREFIX = 'pwg';
const OUR_UNDERLAY = '198.18.4.1';
const THEIR_UNDERLAY = '198.18.4.2';
const OUR_TUNNEL = '198.18.4.65';
const THEIR_TUNNEL = '198.18.4.66';
const PORT = 51820;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let rootNs = -1;
let tunFd = -1;
let a: Netns | undefined;
let b: Netns | undefined;
let ours: OurPeer | undefined;
let theirs: WireguardGo | undefined;
let ourKeys: KeyPair;
let theirKeys: KeyPair;
let psk: Uint8Array | undefined;

function nsA(): Netns {
  if (!a) throw new Error('no namespace a');
  return a;
}
function nsB(): Netns {
  if (!b) throw new Error('no namespace b');
  return b;
}

async function startOurs(persistentKeepalive = 0): Promise<OurPeer> {
  await ours?.close();
  ours = await OurPeer.start({
    privateKey: ourKeys.privateKey,
    peerPublicKey: theirKeys.publicKey,
    ...(psk ? { presharedKey: psk } : {}),
    persistentKeepalive,
    bind: { address: OUR_UNDERLAY, port: PORT },
    peerEndpoint: { address: THEIR_UNDERLAY, port: PORT },
    tunFd,
  });
  return ours;
}

async function startTheirs(extra: Partial<WgGoConfig['peer']> = {}): Promise<WireguardGo> {
  await theirs?.stop();
  theirs = await WireguardGo.start(nsB(), {
    ifname: 'pwg-wg',
    privateKey: theirKeys.privateKey,
    listenPort: PORT,
    address: `${THEIR_TUNNEL}/26`,
    peer: {
      publicKey: ourKeys.publicKey,
      ...(psk ? { presharedKey: psk } : {}),
      endpoint: `${OUR_UNDERLAY}:${PORT}`,
      allowedIps: `${OUR_TUNNEL}/32`,
      ...extra,
    },
  });
  return theirs;
}

/** Runs a command in `ns` and keeps its output in `<ns>-<cmd>.log`. */
async function logged(ns: Netns, cmd: string, args: readonly string[], timeoutMs: number): Promise<string> {
  const out = await ns.exec(cmd, args, { timeoutMs });
  writeLog(LOG_SUITE, `${ns.name}-${cmd}`, `$ ${cmd} ${args.join(' ')}\n${out}`);
  return out;
}

async function ping(from: Netns, to: string, args: string[] = ['-c', '3', '-i', '0.3', '-W', '3']): Promise<string> {
  return logged(from, 'ping', ['-n', ...args, to], 40_000);
}

async function csumErrors(ns: Netns): Promise<number> {
  const out = await ns.exec('nstat', ['-az', 'TcpInCsumErrors']);
  const m = /TcpInCsumErrors\s+(\d+)/.exec(out);
  return Number(m?.[1] ?? 0);
}

async function iperf(reverse: boolean): Promise<{ bps: number; retransmits: number }> {
  const server = nsB().spawn('iperf3', ['-s', '-1', '-B', THEIR_TUNNEL, '-p', '5201'], { stdio: ['ignore', 'pipe', 'pipe'] });
  keepLogs(server, LOG_SUITE, `${nsB().name}-iperf3-server`);
  await sleep(700);
  try {
    const out = await logged(nsA(), 'iperf3', ['-c', THEIR_TUNNEL, '-p', '5201', '-t', '10', '-J', ...(reverse ? ['-R'] : [])], 30_000);
    const j = JSON.parse(out);
    return { bps: Number(j.end.sum_received.bits_per_second), retransmits: Number(j.end.sum_sent.retransmits ?? 0) };
  } finally {
    server.kill('SIGKILL');
  }
}

async function teardown(): Promise<void> {
  await ours?.close().catch(() => undefined);
  ours = undefined;
  await theirs?.stop().catch(() => undefined);
  theirs = undefined;
  if (tunFd >= 0) closeFd(tunFd);
  tunFd = -1;
  if (rootNs >= 0) {
    enterNetns(rootNs);
    closeFd(rootNs);
    rootNs = -1;
  }
  await a?.destroy();
  await b?.destroy();
  removeLeftovers(PREFIX);
  rmSync('/var/run/wireguard/pwg-wg.sock', { force: true });
}

describe('interop with wireguard-go', () => {
  beforeAll(async () => {
    removeLeftovers(PREFIX);
    ourKeys = generateKeyPair(cryptoRng);
    theirKeys = generateKeyPair(cryptoRng);
    registerSecret(keyToBase64(ourKeys.privateKey), 'wireguard e2e: our private key');
    registerSecret(keyToBase64(theirKeys.privateKey), 'wireguard e2e: wireguard-go private key');
    try {
      a = await Netns.create('pwg-a');
      b = await Netns.create('pwg-b');
      await link(a, `${OUR_UNDERLAY}/26`, b, `${THEIR_UNDERLAY}/26`, { a: 'pwg-va', b: 'pwg-vb' });
      // our process joins pwg-a (this thread only) for its TUN and UDP socket; teardown returns it
      rootNs = openNetns('/proc/self/ns/net');
      const nsFd = openNetns('/var/run/netns/pwg-a');
      enterNetns(nsFd);
      closeFd(nsFd);
      tunFd = openTun('pwg-tun');
      await a.exec('ip', ['addr', 'add', `${OUR_TUNNEL}/26`, 'dev', 'pwg-tun']);
      await a.exec('ip', ['link', 'set', 'pwg-tun', 'mtu', '1420', 'up']);
    } catch (err) {
      await teardown();
      throw err;
    }
  });

  afterAll(teardown);

  it('completes a handshake we initiate (no preshared key) and pings through it', async () => {
    await startTheirs();
    const p = await startOurs();
    const out = await ping(nsA(), THEIR_TUNNEL);
    expect(out).toMatch(/3 received/);
    expect(p.tunn.stats.handshakesCompleted).toBe(1);
    expect((await theirs?.peerStats())?.latestHandshake).toBeGreaterThan(0);
  });

  it('makes a new handshake after our side restarts', async () => {
    const p = await startOurs();
    const out = await ping(nsA(), THEIR_TUNNEL);
    expect(out).toMatch(/3 received/);
    expect(p.tunn.stats.handshakesCompleted).toBe(1);
  });

  for (const withPsk of [false, true]) {
    it(`answers a handshake wireguard-go initiates, ${withPsk ? 'with' : 'without'} a preshared key`, async () => {
      psk = withPsk ? generateKeyPair(cryptoRng).privateKey : undefined;
      if (psk) registerSecret(keyToBase64(psk), 'wireguard e2e: preshared key');
      await startTheirs();
      const p = await startOurs();
      const out = await ping(nsB(), OUR_TUNNEL);
      expect(out).toMatch(/3 received/);
      expect(p.tunn.stats.handshakesCompleted).toBe(1);
      expect(p.counters.handshakeMessagesSent).toBe(1); // our response only
    });
  }

  it('carries a 10 s iperf3 TCP run each way with no corrupted packets', async () => {
    const before = (await csumErrors(nsA())) + (await csumErrors(nsB()));
    const up = await iperf(false);
    const down = await iperf(true);
    process.stdout.write(`iperf3 through our WireGuard: up ${(up.bps / 1e6).toFixed(0)} Mbit/s, down ${(down.bps / 1e6).toFixed(0)} Mbit/s\n`);
    expect(up.bps).toBeGreaterThan(1e6);
    expect(down.bps).toBeGreaterThan(1e6);
    expect((await csumErrors(nsA())) + (await csumErrors(nsB())) - before).toBe(0);
    expect(ours?.tunn.stats.drops.decryptionFailed).toBe(0);
    expect(ours?.tunn.stats.drops.invalidPacket).toBe(0);
  }, 60_000);

  it('re-handshakes by itself after wireguard-go restarts', async () => {
    await startTheirs();
    const p = ours;
    const before = p?.tunn.stats.handshakesCompleted ?? 0;
    // wireguard-go forgot the session: our data goes unanswered until the new-handshake timer
    // (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) makes us initiate
    const out = await ping(nsA(), THEIR_TUNNEL, ['-c', '1', '-w', '30']);
    expect(out).toMatch(/1 received/);
    expect(p?.tunn.stats.handshakesCompleted).toBeGreaterThan(before);
  }, 60_000);

  it('sends persistent keepalives that wireguard-go receives, and receives its own', async () => {
    await startTheirs({ persistentKeepalive: 1 });
    const p = await startOurs(1);
    await ping(nsA(), THEIR_TUNNEL, ['-c', '1', '-W', '5']);
    // count 32-byte WireGuard keepalives (UDP length 40) from us on the wire in pwg-b
    const filter = `udp and src host ${OUR_UNDERLAY} and udp[4:2] = 40`;
    const captured = await logged(nsB(), 'sh', ['-c', `timeout 4 tcpdump -i pwg-vb -n -l '${filter}' 2>/dev/null; true`], 10_000);
    const onWire = captured.split('\n').filter((l) => l.includes(`${OUR_UNDERLAY}.${PORT} >`)).length;
    process.stdout.write(`keepalives: ${onWire} from us seen on the wire in 4 s, ${p.counters.keepalivesReceived} from wireguard-go received\n`);
    expect(onWire).toBeGreaterThanOrEqual(2);
    expect(p.counters.keepalivesReceived).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('would fail check-secrets had the keys been logged: `wg show dump` prints them, so it is parsed, never kept', async () => {
    const dump = await nsB().exec('wg', ['show', 'pwg-wg', 'dump']);
    const dir = mkdtempSync(join(tmpdir(), 'pwg-leak-'));
    try {
      writeFileSync(join(dir, 'secrets.txt'), `wireguard-go private key\t${keyToBase64(theirKeys.privateKey)}\n`);
      writeFileSync(join(dir, 'wg-dump.log'), dump);
      const check = join(import.meta.dirname, '..', '..', '..', '..', '..', 'tools', 'scripts', 'check-secrets.mjs');
      const r = spawnSync(process.execPath, [check, '--dir', dir], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/wg-dump\.log:1: wireguard-go private key \(as is\)/);
      expect(r.stdout).not.toContain(keyToBase64(theirKeys.privateKey));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
