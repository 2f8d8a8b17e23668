import { afterEach, describe, expect, it } from 'vitest';
import { parseClientIngress, parseGatewayIngress, parseProblemDetails, requiresSignIn } from '@postern/model';
import { EXAMPLE, KEYS, STAMP, TOKENS } from '../support';
import { Peer, TestPortal, upgrade } from './peer';

const portals: TestPortal[] = [];
const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await Promise.all(portals.splice(0).map((p) => p.stop()));
});

async function portal(config?: string, state?: string): Promise<TestPortal> {
  const p = await new TestPortal(config, state).start();
  portals.push(p);
  return p;
}

async function peer(url: string, token?: string): Promise<Peer> {
  const p = await Peer.connect(url, token);
  peers.push(p);
  return p;
}

async function client(p: TestPortal, externalId = 'client-1', key = KEYS.client, token = TOKENS.client) {
  const c = await peer(p.ws('/client/v2/websocket', { external_id: externalId, public_key: key, name: externalId }), token);
  const init = await c.join('client');
  return { c, init: init?.payload };
}

async function gateway(p: TestPortal, externalId = 'gw-1', key = KEYS.gw1) {
  const g = await peer(p.ws('/gateway/v2/websocket', { external_id: externalId, public_key: key }), TOKENS.gateway);
  const init = await g.join('gateway');
  return { g, init: init?.payload };
}

describe('portal over loopback websockets', () => {
  it('refuses bad tokens with 401 problem+json that says sign in again', async () => {
    const p = await portal();
    const url = `${p.url}/client/v2/websocket?external_id=a&public_key=${encodeURIComponent(KEYS.client)}`;
    for (const [token, code] of [[undefined, 'missing_token'], ['wrong-token', 'invalid_token']] as const) {
      const res = await upgrade(url, token);
      expect(res.status).toBe(401);
      const details = parseProblemDetails(res.type, res.body);
      expect(details?.code).toBe(code);
      expect(requiresSignIn(details)).toBe(true);
    }
    expect((await upgrade(`${p.url}/gateway/v2/websocket?external_id=a&public_key=x`, TOKENS.gateway)).status).toBe(400);
    expect((await upgrade(`${p.url}/nope/websocket`, TOKENS.client)).status).toBe(404);
  });

  it('accepts the token as a query parameter too', async () => {
    const p = await portal();
    const c = await peer(p.ws('/client/v2/websocket', { external_id: 'q', public_key: KEYS.client, token: TOKENS.client }));
    expect((await c.join('client'))?.event).toBe('init');
  });

  it('brokers a connection end to end and forwards ICE candidates', async () => {
    const p = await portal();
    const relay = await peer(p.ws('/relay/websocket', { ipv4: '198.18.0.9', port: '3478' }), TOKENS.relay);
    await relay.join('relay', { stamp_secret: STAMP });
    expect((await relay.event('init')).payload).toEqual({});
    const { g, init: gwInit } = await gateway(p);
    expect(parseGatewayIngress({ event: 'init', payload: gwInit }).kind).toBe('message');
    expect(gwInit.relays).toHaveLength(1);
    const { c, init } = await client(p);
    const lab = init.resources.find((r: { name: string }) => r.name === 'lab-net');
    c.send({ topic: 'client', event: 'request_authorization', payload: { resource_id: lab.id, connected_gateway_ids: [] } });
    const create = await g.event('create_authorization');
    expect(parseGatewayIngress(create).kind).toBe('message');
    g.send({ topic: 'gateway', event: 'authorization_created', payload: { ref: create.payload.ref } });
    const created = await c.event('authorization_created');
    expect(parseClientIngress(created).kind).toBe('message');
    expect(created.payload.preshared_key).toBe(create.payload.client.preshared_key);
    const cand = 'candidate:1 1 udp 2130706431 198.18.0.2 51820 typ host';
    c.send({ topic: 'client', event: 'new_gateway_ice_candidates', payload: { gateway_id: created.payload.gateway_id, candidates: [cand] } });
    expect((await g.event('ice_candidates')).payload).toEqual({ client_id: create.payload.client.id, candidates: [cand] });
    g.send({ topic: 'gateway', event: 'broadcast_ice_candidates', payload: { client_ids: [create.payload.client.id], candidates: [cand] } });
    expect((await c.event('ice_candidates')).payload).toEqual({ gateway_id: created.payload.gateway_id, candidates: [cand] });
    const metrics = await (await fetch(p.url + '/metrics')).text();
    expect(metrics).toMatch(/postern_portal_connected_clients 1\n/);
    expect(metrics).toMatch(/postern_portal_connected_gateways 1\n/);
    expect(metrics).toMatch(/postern_portal_connected_relays 1\n/);
    expect(metrics).toMatch(/postern_portal_authorizations_created_total 1\n/);
    expect(await (await fetch(p.url + '/healthz')).json()).toEqual({ status: 'ok', clients: 1, gateways: 1, relays: 1 });
    await relay.close();
    expect((await c.event('relays_presence')).payload.disconnected_ids).toHaveLength(1);
  });

  it('answers garbage with an error and keeps the socket open', async () => {
    const p = await portal();
    const { c } = await client(p);
    c.send('{this is not json');
    expect((await c.event('phx_reply')).payload.status).toBe('error');
    c.send('"just a string"');
    expect((await c.event('phx_reply')).payload.status).toBe('error');
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const ref = c.send({ topic: 'phoenix', event: 'heartbeat', payload: {} });
    expect(await c.event('phx_reply')).toEqual({ topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref });
    expect(c.closed).toBeUndefined();
  });

  it('fails over to the second gateway of the site when the first one drops', async () => {
    const p = await portal();
    const a = await gateway(p, 'gw-a', KEYS.gw1);
    const b = await gateway(p, 'gw-b', KEYS.gw2);
    const { c, init } = await client(p);
    const lab = init.resources.find((r: { name: string }) => r.name === 'lab-net');
    c.send({ topic: 'client', event: 'request_authorization', payload: { resource_id: lab.id, connected_gateway_ids: [] } });
    const has = (x: typeof a) => x.g.frames.some((f) => f.event === 'create_authorization');
    while (!has(a) && !has(b)) await new Promise((r) => setTimeout(r, 10));
    const first = has(a) ? a : b;
    const other = first === a ? b : a;
    await first.g.close();
    const moved = await other.g.event('create_authorization');
    other.g.send({ topic: 'gateway', event: 'authorization_created', payload: { ref: moved.payload.ref } });
    expect((await c.event('authorization_created')).payload.gateway_ipv4).toBe(other.init.interface.ipv4);
  });
});

describe('configuration reload while running', () => {
  it('pushes a removed policy live when the file changes, and keeps connections', async () => {
    const p = await portal();
    const { c, init } = await client(p);
    const lab = init.resources.find((r: { name: string }) => r.name === 'lab-web');
    p.write(EXAMPLE.replace('  - group: engineering\n    resource: lab-web\n', ''));
    expect((await c.event('resource_deleted', 5000)).payload).toBe(lab.id);
    expect(c.closed).toBeUndefined();
  });

  it('keeps the old configuration when the new file is wrong and says which field', async () => {
    const p = await portal();
    const { c, init } = await client(p);
    p.write(EXAMPLE.replace('address: 198.18.27.0/24', 'address: 198.18.27.0/99'));
    expect(p.app.reload('SIGHUP')).toBe(false);
    const line = p.logs.find((l) => l.includes('configuration not reloaded'));
    expect(line).toMatch(/resources\[0\]\.address: expected an IPv4 or IPv6 CIDR/);
    expect(line).toMatch(/portal\.yaml:\d+:\d+/);
    const lab = init.resources.find((r: { name: string }) => r.name === 'lab-net');
    c.send({ topic: 'client', event: 'request_authorization', payload: { resource_id: lab.id, connected_gateway_ids: [] } });
    expect((await c.event('authorization_creation_failed')).payload.reason).toBe('offline');
    expect(await (await fetch(p.url + '/metrics')).text()).toMatch(/postern_portal_config_reloads_total\{result="error"\} [1-9]/);
    expect(c.closed).toBeUndefined();
  });
});

describe('state across restarts (SQLite)', () => {
  it('keeps tunnel IPs and issued tokens', async () => {
    const p = new TestPortal(EXAMPLE, 'state.sqlite');
    portals.push(await p.start());
    const first = await client(p, 'persistent-device');
    const { token } = p.app.portal?.issueClientToken('alice@example.com', Date.now()) ?? { token: '' };
    await first.c.close();
    await p.restart();
    const again = await client(p, 'persistent-device');
    expect(again.init.interface).toEqual(first.init.interface);
    const viaIssued = await client(p, 'other-device', KEYS.client2, token);
    expect(viaIssued.init.interface.ipv4).not.toBe(first.init.interface.ipv4);
  });
});
