// A bad network: 20 % packet loss and 200 ms delay between the client and everything else, and a 10 MB download
// through the tunnel must arrive whole (sha256). This kernel has no sch_netem (`tc qdisc ... netem` answers
// "Specified qdisc kind is unknown"), so the loss and delay come from a user-space delay line (delay-line.mjs: a
// TUN in a router namespace between the client and the underlay). CI applies what
// `tc qdisc add dev <client's interface> root netem delay 200ms loss 20%` would: the client's egress (TCP ACKs,
// WireGuard handshakes, the portal websocket) is delayed 200 ms and loses 20 %. NETEM_BOTH_WAYS=1 also delays
// and drops the downlink (TCP then takes many minutes for 10 MB: throughput ~ 1/(RTT * sqrt(loss))). Needs root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApps, FaultWorld, GATEWAY_IP, waitFor, destroyWorlds } from './world';

const isRoot = process.getuid?.() === 0;
const BOTH = process.env['NETEM_BOTH_WAYS'] === '1';
const SIZE = 10_000_000;

describe.runIf(isRoot)(`bad link: 20 % loss + 200 ms delay (${BOTH ? 'both ways' : "on the client's egress"})`, () => {
  let w: FaultWorld;

  beforeAll(async () => {
    buildApps(['portal', 'gateway', 'headless-client']);
    w = await FaultWorld.create({
      files: { 'blob-10m': SIZE, small: 100 },
      badLink: { upDelayMs: 200, upLossPct: 20, downDelayMs: BOTH ? 200 : 0, downLossPct: BOTH ? 20 : 0 },
    });
    await waitFor('first download', async () => (await w.download('small', { maxTimeS: 5 })).ok, 60_000, 500);
  }, 240_000);

  afterAll(async () => {
    await destroyWorlds();
  });

  it('the link really is bad: ping sees the delay and the loss', async () => {
    const ping = await w.get('cl').exec('ping', ['-c', '60', '-i', '0.02', '-q', GATEWAY_IP], { timeoutMs: 30_000 }).catch((e: unknown) => String(e));
    console.log(ping.split('\n').filter((l) => /loss|rtt/.test(l)).join(' | '));
    const loss = Number(/(\d+(?:\.\d+)?)% packet loss/.exec(ping)?.[1] ?? 'NaN');
    const avg = Number(/rtt min\/avg\/max\/mdev = [\d.]+\/([\d.]+)\//.exec(ping)?.[1] ?? 'NaN');
    expect(loss).toBeGreaterThan(0);
    expect(loss).toBeLessThan(BOTH ? 70 : 50);
    expect(avg).toBeGreaterThanOrEqual(BOTH ? 400 : 200);
  });

  it('a 10 MB download completes with the right sha256', async () => {
    const r = await w.download('blob-10m', { maxTimeS: BOTH ? 1500 : 200 });
    console.log(`10 MB through the bad link: ${String(Math.round(r.ms))} ms (${((SIZE * 8) / r.ms / 1000).toFixed(2)} Mbit/s), ok=${String(r.ok)} ${r.error}`);
    expect(r.error).toBe('');
    expect(r.bytes).toBe(SIZE);
    expect(r.sha256).toBe(w.sha.get('blob-10m'));
  }, BOTH ? 1_600_000 : 240_000);
});
