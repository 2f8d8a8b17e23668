// The Internet resource: the client runs with --activate-internet-resource, so its default route points into the
// TUN. Every non-Postern packet goes through the gateway, while the client's own sockets bypass the tunnel by
// their SO_MARK (policy rule `not fwmark 0x70732021 lookup <postern table>`): the UDP socket, and the portal
// websocket (phoenix-channel's `mark` option). The client reaches the portal through a router by its default
// route, and the gateway has no route to that address: a portal connection that entered the tunnel would die.
// Needs root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApps, count, FaultWorld, INTERNET_IP, PORTAL_FAR_IP, sleep, waitFor, destroyWorlds } from './world';

const isRoot = process.getuid?.() === 0;
const WATCH_S = 20;

describe.runIf(isRoot)('Internet resource: all traffic through the gateway, the portal connection stays outside', () => {
  let w: FaultWorld;

  beforeAll(async () => {
    buildApps(['portal', 'gateway', 'headless-client']);
    w = await FaultWorld.create({ internet: true });
  }, 180_000);

  afterAll(async () => {
    await destroyWorlds();
  });

  it('traffic to any address goes through the gateway (masqueraded), and the default route is the TUN', async () => {
    const route = await w.get('cl').exec('ip', ['route', 'get', INTERNET_IP]);
    expect(route).toMatch(/dev tun/);
    await waitFor('the Internet server through the tunnel', async () => (await w.curlText('cl', `http://${INTERNET_IP}/`, 2)).ok, 20_000, 300);
    const r = await w.curlText('cl', `http://${INTERNET_IP}/`, 2);
    expect(r.body).toMatch(/you are 198\.18\.65\.1\b/); // the gateway's LAN address: it went through the gateway
  });

  it(`the client stays connected to the portal for ${String(WATCH_S)} s with the Internet resource active (marked websocket)`, async () => {
    const hiccups = count(w.procs.get('client'), /Hiccup in portal connection/);
    const ss = await w.get('cl').exec('ss', ['-tne', 'state', 'established', 'dst', PORTAL_FAR_IP]);
    expect(ss).toMatch(/fwmark:0x70732021/);
    await sleep(WATCH_S * 1000);
    expect(count(w.procs.get('client'), /Hiccup in portal connection/)).toBe(hiccups);
    expect(w.procs.get('client')?.child.exitCode).toBeNull();
    // and the portal still reaches it: taking the Internet policy away cuts that traffic
    w.setPolicies(['lab']);
    await waitFor('the Internet resource to be withdrawn', async () => !(await w.curlText('cl', `http://${INTERNET_IP}/`, 1)).ok, 20_000, 300);
    expect((await w.curlText('cl', 'http://198.18.65.10/', 2)).ok).toBe(true);
  }, 120_000);
});
