// NAT traversal end to end (issue 8 "Done when"): the real portal, two postern-relays on "public" addresses,
// the headless client behind router NAT-A and the gateway (with a resource server behind it) behind router
// NAT-B, both routers doing nft masquerade. Two worlds: endpoint-independent NAT (plain masquerade) and
// symmetric NAT (masquerade random,fully-random). The NAT kind is verified from inside the test with STUN
// bindings to both relays. Topology: ./nat-world.ts. Needs root; builds the release bundles first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApps, CLIENT_IP, GATEWAY_IP, NAT_A_WAN, NAT_B_WAN, NatWorld, PORTAL_IP, RELAY_IPS, RELAY_PORT, SERVER_IP, waitFor, type NatKind, type Proc } from './nat-world';
import { readPcap, timeline } from './nat-timeline';

const isRoot = process.getuid?.() === 0;
const STATIC_USER = 'psn:psn-static-password';

function portOf(addr: string | null | undefined): number {
  return Number(/:(\d+)$/.exec(addr ?? '')?.[1] ?? NaN);
}

function ipOf(addr: string | null | undefined): string {
  return /^(.*):\d+$/.exec(addr ?? '')?.[1] ?? '';
}

/** Sets up one world; every describe below owns one and removes it in afterAll, whatever happened. */
function useWorld(kind: NatKind): () => NatWorld {
  let world: NatWorld | undefined;
  beforeAll(async () => {
    world = await NatWorld.create(kind, { relayExtraArgs: ['--user', STATIC_USER] });
    await world.startControlPlane();
  }, 120_000);
  afterAll(async () => {
    if (world && process.env['POSTERN_E2E_DUMP'] === '1') for (const p of world.procs) console.log(p.child.spawnargs.slice(3, 8).join(' '), '\n', p.output.slice(-6000));
    await world?.destroy();
  }, 30_000);
  return () => {
    if (!world) throw new Error('the world was not created (see beforeAll)');
    return world;
  };
}

/**
 * Starts the gateway then the client, waits for both TUNs and for a first page through the tunnel. Packets on
 * the client's and the gateway's LAN side are captured meanwhile and the set-up's timeline is reported.
 */
async function connect(w: NatWorld): Promise<{ gateway: Proc; client: Proc; firstByteMs: number }> {
  const gateway = await w.startGateway();
  await waitFor('the gateway to configure its TUN', () => gateway.output.includes('"TUN configured"'), 30_000).catch((e: unknown) => {
    throw new Error(`${String(e)}\n${gateway.output.slice(-4000)}`);
  });
  const captures = await Promise.all([w.capture('psn-cl'), w.capture('psn-gw')]);
  const started = performance.now();
  const startedWall = Date.now();
  const client = w.startClient();
  await waitFor('the client to configure its TUN', () => client.output.includes('"TUN configured"'), 30_000, 20).catch((e: unknown) => {
    throw new Error(`${String(e)}\n${client.output.slice(-4000)}`);
  });
  await waitFor('a page from the resource through the tunnel', async () => (await w.curl('psn-cl', `http://${SERVER_IP}/`, 2)).ok, 30_000, 200).catch((e: unknown) => {
    throw new Error(`${String(e)}\n--- client ---\n${client.output.slice(-4000)}\n--- gateway ---\n${gateway.output.slice(-4000)}`);
  });
  const firstByteMs = performance.now() - started;
  await new Promise((r) => setTimeout(r, 200));
  for (const c of captures) await c.stop();
  const lines = timeline(
    startedWall,
    new Map([
      ['client', { local: CLIENT_IP, packets: readPcap(join(w.dir, 'psn-cl.pcap')) }],
      ['gateway', { local: GATEWAY_IP, packets: readPcap(join(w.dir, 'psn-gw.pcap')) }],
    ]),
    RELAY_IPS,
    PORTAL_IP,
  );
  const at = (side: string, what: RegExp): number | undefined => lines.find((l) => l.side === side && what.test(l.what))?.ms;
  const asked = at('client', /-> portal: request_authorization/);
  const data = at('client', /<- .*WG data/);
  report(
    `${w.kind} set-up timeline (ms after client start; first of each kind; first page at ${String(Math.round(firstByteMs))}; ` +
      `request_authorization -> first WireGuard data from the gateway ${asked === undefined || data === undefined ? '?' : String(data - asked)} ms):\n` +
      lines.map((l) => `  ${String(l.ms).padStart(6)} ${l.side.padEnd(7)} ${l.what}`).join('\n'),
  );
  const page = await w.curl('psn-cl', `http://${SERVER_IP}/`, 3);
  expect(page.body).toMatch(/Hello from the lab network/);
  expect(client.output).toMatch(/"connected to gateway"/);
  return { gateway, client, firstByteMs };
}

interface Iperf {
  readonly code: number | null;
  readonly bitsPerSecond: number;
  readonly bytes: number;
  /** Bytes per report interval, as the server received them (sender side if the server's report is missing). */
  readonly intervals: readonly { readonly seconds: number; readonly bytes: number }[];
  readonly error: string | undefined;
  readonly raw: string;
}

function parseIperf(code: number | null, raw: string): Iperf {
  let j: unknown;
  try {
    j = JSON.parse(raw);
  } catch {
    return { code, bitsPerSecond: 0, bytes: 0, intervals: [], error: `no JSON: ${raw.slice(0, 300)}`, raw };
  }
  interface Intervals {
    intervals?: { sum?: { seconds?: number; bytes?: number } }[];
  }
  const o = j as Intervals & { error?: string; end?: { sum_received?: { bits_per_second?: number; bytes?: number } }; server_output_json?: Intervals };
  const intervals = o.server_output_json?.intervals ?? o.intervals ?? [];
  return {
    code,
    bitsPerSecond: o.end?.sum_received?.bits_per_second ?? 0,
    bytes: o.end?.sum_received?.bytes ?? 0,
    intervals: intervals.map((i) => ({ seconds: i.sum?.seconds ?? 0, bytes: i.sum?.bytes ?? 0 })),
    error: o.error,
    raw,
  };
}

/** iperf3 TCP from the client to the resource server through the tunnel (JSON report). */
function iperf(w: NatWorld, seconds: number, intervalS = 1): { proc: Proc; done: Promise<Iperf> } {
  const proc = w.spawn('psn-cl', 'iperf3', ['-c', SERVER_IP, '-t', String(seconds), '-i', String(intervalS), '-J', '--get-server-output', '--connect-timeout', '5000']);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), (seconds + 60) * 1000);
  const done = proc.exited.then((code) => {
    clearTimeout(timer);
    return parseIperf(code, proc.output);
  });
  return { proc, done };
}

/** The longest run of report intervals that carried (almost) nothing, in seconds. */
function longestGapS(r: Iperf): number {
  let gap = 0;
  let run = 0;
  for (const i of r.intervals) {
    run = i.bytes < 16 * 1024 ? run + i.seconds : 0;
    gap = Math.max(gap, run);
  }
  return gap;
}

function report(line: string): void {
  process.stdout.write(`[nat e2e] ${line}\n`);
}

/** turnutils_uclient from behind NAT-A through relay `i` to an echo peer on the internet side. */
async function uclientThroughRelay(w: NatWorld, i: 0 | 1): Promise<{ code: number | null; output: string }> {
  const [user, password] = STATIC_USER.split(':') as [string, string];
  const peerPort = 3480 + i;
  const peer = w.spawn('psn-portal', 'turnutils_peer', ['-L', PORTAL_IP, '-p', String(peerPort)]);
  await new Promise((r) => setTimeout(r, 300));
  const p = w.spawn('psn-cl', 'turnutils_uclient', ['-u', user, '-w', password, '-e', PORTAL_IP, '-r', String(peerPort), '-p', String(RELAY_PORT), '-c', '-m', '2', '-n', '30', '-l', '300', '-z', '5', RELAY_IPS[i]]);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 30_000);
  const code = await p.exited;
  clearTimeout(timer);
  peer.child.kill('SIGKILL');
  return { code, output: p.output };
}

describe.runIf(isRoot)('NAT traversal in namespaces (portal, 2 relays, client behind NAT-A, gateway behind NAT-B)', () => {
  beforeAll(() => {
    buildApps(['portal', 'relay', 'gateway', 'headless-client']);
  }, 300_000);

  describe('endpoint-independent NAT (plain masquerade)', () => {
    const world = useWorld('eim');

    it('maps one socket to the same public address for both relays (STUN from behind each NAT)', async () => {
      const w = world();
      const a = await w.stunMappings('psn-cl');
      const b = await w.stunMappings('psn-gw');
      for (const [m, wan] of [[a, NAT_A_WAN], [b, NAT_B_WAN]] as const) {
        expect(m.mapped).toHaveLength(2);
        expect(ipOf(m.mapped[0])).toBe(wan); // the router's public address, not the private 198.18.33/34.x
        expect(m.mapped[1]).toBe(m.mapped[0]); // endpoint-independent mapping
      }
      // plain masquerade keeps a free source port
      expect(portOf(a.mapped[0])).toBe(a.local);
    });

    it('keeps the private LANs unreachable from the internet side (no route, forward policy drop)', async () => {
      const w = world();
      const r = await w.get('psn-portal').exec('ping', ['-c', '1', '-W', '1', CLIENT_IP]).then(
        () => 'reachable',
        () => 'unreachable',
      );
      expect(r).toBe('unreachable');
      const g = await w.get('psn-nata').exec('ping', ['-c', '1', '-W', '1', GATEWAY_IP]).then(
        () => 'reachable',
        () => 'unreachable',
      );
      expect(g).toBe('unreachable');
    });

    it('both relays joined the portal and relayed nothing yet', async () => {
      const w = world();
      for (const i of [0, 1] as const) {
        // started as `node main.js`, each re-executed itself (same pid) with the data plane's V8 flags
        expect(readFileSync(`/proc/${String(w.relays[i]?.child.pid)}/cmdline`, 'utf8').split('\0')).toContain('--no-memory-reducer');
        const m = await w.relayMetrics(i);
        expect(m.get('postern_relay_allocations')).toBe(0);
        expect(await w.relayedBytes(i)).toBe(0);
      }
    });

    it('client and gateway connect directly through both NATs: curl and iperf3 work, no byte through either relay', async () => {
      const w = world();
      const { firstByteMs } = await connect(w);
      const r = await iperf(w, 3).done;
      expect(r.error, r.raw.slice(-2000)).toBeUndefined();
      expect(r.code).toBe(0);
      expect(r.bytes).toBeGreaterThan(1_000_000);
      const allocations = (await w.relayMetrics(0)).get('postern_relay_allocations_created_total') ?? 0;
      const allocations2 = (await w.relayMetrics(1)).get('postern_relay_allocations_created_total') ?? 0;
      // the relays were offered and used for candidates (allocations), yet carried no data
      expect(allocations + allocations2).toBeGreaterThan(0);
      const relayed = [await w.relayedBytes(0), await w.relayedBytes(1)] as const;
      const direct = await w.natCounter('psn-nata', 'direct');
      const wgViaRelays = [await w.natCounter('psn-nata', 'relay_wg'), await w.natCounter('psn-natb', 'relay_wg')] as const;
      report(
        `EIM: first page ${Math.round(firstByteMs)} ms after client start; iperf3 3 s ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s (${String(r.bytes)} B); ` +
          `NAT-A -> NAT-B direct ${String(direct)} B; WireGuard towards relays from NAT-A/NAT-B ${String(wgViaRelays[0])}/${String(wgViaRelays[1])} B; ` +
          `relay /metrics relayed bytes ${String(relayed[0])}/${String(relayed[1])} (ICE checks of the relayed pairs); allocations ${String(allocations)}/${String(allocations2)}`,
      );
      // not one WireGuard byte went to a relay, from either side ...
      expect(wgViaRelays).toEqual([0, 0]);
      // ... the relays carried only connectivity checks (~100 B each), nothing like the stream ...
      expect(relayed[0] + relayed[1]).toBeLessThan(64 * 1024);
      // ... and the stream crossed from NAT-A straight to NAT-B's public address
      expect(direct).toBeGreaterThan(r.bytes);
    }, 120_000);
  });

  describe('symmetric NAT (masquerade random,fully-random)', () => {
    const world = useWorld('symmetric');

    it('maps one socket to a different public port per relay (STUN from behind each NAT)', async () => {
      const w = world();
      for (const [ns, wan] of [['psn-cl', NAT_A_WAN], ['psn-gw', NAT_B_WAN]] as const) {
        const m = await w.stunMappings(ns);
        expect(m.mapped).toHaveLength(2);
        expect(ipOf(m.mapped[0])).toBe(wan);
        expect(ipOf(m.mapped[1])).toBe(wan);
        expect(portOf(m.mapped[0])).not.toBe(portOf(m.mapped[1])); // symmetric: mapping depends on the destination
      }
    });

    it('a TURN client behind the symmetric NAT relays through each postern-relay (turnutils_uclient, static user)', async () => {
      const w = world();
      for (const i of [0, 1] as const) {
        const before = await w.relayedBytes(i);
        const r = await uclientThroughRelay(w, i);
        expect(r.code, r.output.slice(-3000)).toBe(0);
        expect(r.output).toMatch(/Total lost packets 0 /);
        // 2 sessions x 30 messages x 300 B, relayed both ways
        expect((await w.relayedBytes(i)) - before).toBeGreaterThanOrEqual(2 * 2 * 30 * 300);
      }
    }, 90_000);

    it('client and gateway connect through a relay: curl and iperf3 work, relayed bytes > 0', async () => {
      const w = world();
      const before = [await w.relayedBytes(0), await w.relayedBytes(1)] as const;
      const { firstByteMs } = await connect(w);
      const r = await iperf(w, 3).done;
      expect(r.error, r.raw.slice(-2000)).toBeUndefined();
      expect(r.code).toBe(0);
      expect(r.bytes).toBeGreaterThan(1_000_000);
      const relayed = [(await w.relayedBytes(0)) - before[0], (await w.relayedBytes(1)) - before[1]] as const;
      const direct = await w.natCounter('psn-nata', 'direct');
      const wgViaRelays = await w.natCounter('psn-nata', 'relay_wg');
      report(
        `symmetric: first page ${Math.round(firstByteMs)} ms after client start; iperf3 3 s ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s (${String(r.bytes)} B) relayed; ` +
          `relay /metrics relayed bytes ${String(relayed[0])}/${String(relayed[1])}; WireGuard from NAT-A to relays ${String(wgViaRelays)} B; NAT-A -> NAT-B direct ${String(direct)} B`,
      );
      expect(wgViaRelays).toBeGreaterThan(r.bytes);
      // the whole iperf3 stream went through a relay (both directions counted: data and ACKs) ...
      expect(relayed[0] + relayed[1]).toBeGreaterThan(r.bytes);
      // ... and not straight to NAT-B (only failed connectivity checks may have gone there)
      expect(direct).toBeLessThan(100_000);
    }, 120_000);

    it('killing the relay in use mid-iperf3 (TCP) moves the connection to the other relay and the stream survives', async () => {
      const w = world();
      const SECONDS = 12;
      const run = iperf(w, SECONDS, 0.25);
      const startedAt = performance.now();
      await new Promise((r) => setTimeout(r, 2000));
      const a = [await w.relayedBytes(0), await w.relayedBytes(1)] as const;
      await new Promise((r) => setTimeout(r, 1000));
      const b = [await w.relayedBytes(0), await w.relayedBytes(1)] as const;
      const inUse: 0 | 1 = b[0] - a[0] >= b[1] - a[1] ? 0 : 1;
      const other: 0 | 1 = inUse === 0 ? 1 : 0;
      expect(b[inUse] - a[inUse]).toBeGreaterThan(100_000); // the stream is flowing through that relay
      const otherBefore = b[other];
      const directBefore = await w.natCounter('psn-nata', 'direct');
      const killedAt = performance.now();
      await w.killRelay(inUse);
      const r = await run.done;
      const gap = longestGapS(r);
      report(`relay failover: relayed bytes at 2 s ${String(a[0])}/${String(a[1])}, at 3 s ${String(b[0])}/${String(b[1])}; intervals (MB): ${r.intervals.map((i) => (i.bytes / 1e6).toFixed(1)).join(' ')}`);
      expect(r.error, r.raw.slice(-2000)).toBeUndefined();
      expect(r.code).toBe(0);
      const otherAfter = await w.relayedBytes(other);
      const directAfter = await w.natCounter('psn-nata', 'direct');
      // the stream moved to the surviving relay (or to a direct path) ...
      expect(otherAfter - otherBefore + (directAfter - directBefore)).toBeGreaterThan(1_000_000);
      // ... and was still delivering at the end (the server received data in the last 2 s)
      const tail = r.intervals.slice(-8).reduce((n, i) => n + i.bytes, 0);
      expect(tail).toBeGreaterThan(0);
      report(
        `relay failover: killed relay ${String(inUse + 1)} ${((killedAt - startedAt) / 1000).toFixed(1)} s into the run; longest stall ${gap.toFixed(1)} s; ` +
          `iperf3 ${String(SECONDS)} s average ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s; relay ${String(other + 1)} carried ${String(otherAfter - otherBefore)} B and the direct path ${String(directAfter - directBefore)} B after the kill`,
      );
    }, 180_000);
  });
});
