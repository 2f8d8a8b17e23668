import { describe, expect, it } from 'vitest';
import { parseClientIngress, parseGatewayIngress } from '@postern/model';
import { EXAMPLE, Harness, KEYS, STAMP } from '../support';

const ok = (h: Harness, conn: number) => h.take(conn);

function authorize(h: Harness, client: number, resourceId: string, connected: string[] = []) {
  h.send(client, { topic: 'client', event: 'request_authorization', payload: { resource_id: resourceId, connected_gateway_ids: connected }, ref: 5 });
}

describe('portal core: joins, init, heartbeats', () => {
  it('answers the client join with phx_reply ok and an init the model accepts', () => {
    const h = new Harness();
    const conn = h.connect('client', 'postern-demo-client-token', { external_id: 'dev-1', public_key: KEYS.client });
    const frames = h.join(conn, 'client');
    expect(frames[0]).toEqual({ topic: 'client', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: 0 });
    const init = parseClientIngress(frames[1] ?? { event: 'none' });
    expect(init.kind).toBe('message');
    if (init.kind !== 'message' || init.msg.event !== 'init') throw new Error('no init');
    expect(init.msg.payload.interface.ipv4).toMatch(/^100\.(6[4-9]|[78]\d|9[0-5])\./);
    expect(init.msg.payload.interface.ipv6.startsWith('fd00:2021:1111::')).toBe(true);
    expect(init.msg.payload.interface.upstream_do53).toEqual([{ ip: '1.1.1.1' }, { ip: '9.9.9.9' }]);
    expect(init.msg.payload.interface.search_domain).toBe('corp.example');
    expect(init.msg.payload.resources.map((r) => r.name).sort()).toEqual(['lab-net', 'lab-web']);
    expect(init.msg.payload.flow_logs.upload_enabled).toBe(false);
  });

  it('answers the gateway join with an init the model accepts', () => {
    const h = new Harness();
    const { init } = h.gateway();
    expect(parseGatewayIngress({ event: 'init', payload: init }).kind).toBe('message');
  });

  it('replies to heartbeats with the same ref', () => {
    const h = new Harness();
    const { conn } = h.client();
    h.send(conn, { topic: 'phoenix', event: 'heartbeat', payload: {}, ref: 7 });
    expect(h.take(conn)).toEqual([{ topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: 7 }]);
  });

  it('refuses messages before the join and joins on the wrong topic', () => {
    const h = new Harness();
    const conn = h.connect('client', 'postern-demo-client-token', { external_id: 'dev-1', public_key: KEYS.client });
    h.send(conn, { topic: 'client', event: 'request_authorization', payload: { resource_id: 'x', connected_gateway_ids: [] }, ref: 1 });
    expect(h.take(conn)[0]?.payload).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
    h.send(conn, { topic: 'gateway', event: 'phx_join', payload: null, ref: 2 });
    expect(h.take(conn)[0]?.payload).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
  });

  it('answers malformed JSON and invalid payloads with an error, never a crash', () => {
    const h = new Harness();
    const { conn } = h.client();
    for (const garbage of ['{not json', '[]', '42', '{"topic":"client"}', '\u0000\u0001']) {
      h.send(conn, garbage);
      expect(h.take(conn)[0]).toMatchObject({ event: 'phx_reply', payload: { status: 'error' }, ref: null });
    }
    h.send(conn, { topic: 'client', event: 'request_authorization', payload: { connected_gateway_ids: 5 }, ref: 9 });
    const [reply] = h.take(conn);
    expect(reply).toMatchObject({ event: 'phx_reply', ref: 9, payload: { status: 'error' } });
    expect(reply?.payload.response.reason).toContain('resource_id');
    h.send(conn, { topic: 'client', event: 'some_future_event', payload: {}, ref: 10 });
    expect(h.take(conn)).toEqual([]);
    expect(h.core.stats().framesRejected).toBe(6);
  });

  it('rejects a relay join without a valid stamp secret', () => {
    const h = new Harness();
    const conn = h.connect('relay', 'postern-demo-relay-token', { ipv4: '198.18.0.9' });
    expect(h.join(conn, 'relay', { stamp_secret: 'nope' })[0]?.payload).toEqual({ status: 'error', response: { reason: 'invalid stamp_secret' } });
    expect(h.join(conn, 'relay', { stamp_secret: STAMP }).map((f) => f.event)).toEqual(['phx_reply', 'init']);
  });
});

describe('portal core: authentication', () => {
  it('refuses missing and unknown tokens and bad parameters', () => {
    const h = new Harness();
    expect(h.core.authenticate('client', undefined, {}, h.now)).toMatchObject({ ok: false, status: 401, code: 'missing_token' });
    expect(h.core.authenticate('client', 'wrong', { external_id: 'a', public_key: KEYS.client }, h.now)).toMatchObject({ ok: false, status: 401, code: 'invalid_token' });
    expect(h.core.authenticate('gateway', 'postern-demo-client-token', { external_id: 'a', public_key: KEYS.gw1 }, h.now)).toMatchObject({ ok: false, code: 'invalid_token' });
    expect(h.core.authenticate('client', 'postern-demo-client-token', { external_id: 'a', public_key: 'short' }, h.now)).toMatchObject({ ok: false, status: 400 });
    expect(h.core.authenticate('relay', 'postern-demo-relay-token', {}, h.now)).toMatchObject({ ok: false, status: 400 });
  });

  it('accepts issued sign-in tokens until they expire', () => {
    const h = new Harness();
    const { token, expiresAtMs } = h.core.issueClientToken('Alice@example.com', h.now);
    const q = { external_id: 'a', public_key: KEYS.client };
    expect(h.core.authenticate('client', token, q, h.now)).toMatchObject({ ok: true, identity: { email: 'alice@example.com', tokenExpiresAtMs: expiresAtMs } });
    expect(h.core.authenticate('client', token, q, expiresAtMs)).toMatchObject({ ok: false, code: 'invalid_token' });
  });
});

describe('portal core: tunnel addresses', () => {
  it('keeps a device on the same tunnel IPs across reconnects and gives others different ones', () => {
    const h = new Harness();
    const a = h.client('device-a').init.interface;
    const b = h.client('device-b', KEYS.client2).init.interface;
    const again = h.client('device-a').init.interface;
    expect(again).toEqual(a);
    expect(b.ipv4).not.toBe(a.ipv4);
    expect(b.ipv6).not.toBe(a.ipv6);
  });

  it('closes the older connection of a device that connects again', () => {
    const h = new Harness();
    const first = h.client('device-a').conn;
    h.client('device-a');
    expect(h.closed.get(first)).toMatchObject({ code: 4000 });
  });
});

describe('portal core: connection brokering', () => {
  it('runs request_authorization -> create_authorization -> authorization_created with matching keys', () => {
    const h = new Harness();
    const gw = h.gateway();
    const { conn: client, init } = h.client();
    authorize(h, client, h.resourceId('lab-net'));
    const [create] = h.take(gw.conn);
    const parsedCreate = parseGatewayIngress(create ?? { event: '' });
    if (parsedCreate.kind !== 'message' || parsedCreate.msg.event !== 'create_authorization') throw new Error(JSON.stringify(create));
    const c = parsedCreate.msg.payload;
    expect(c.resource).toEqual({ type: 'cidr', id: h.resourceId('lab-net'), address: '198.18.27.0/24', name: 'lab-net', filters: [] });
    expect(c.client.ipv4).toBe(init.interface.ipv4);
    expect(c.client.public_key).toBe(KEYS.client);
    expect(h.take(client)).toEqual([]); // nothing for the client until the gateway acknowledges

    h.send(gw.conn, { topic: 'gateway', event: 'authorization_created', payload: { ref: c.ref }, ref: 3 });
    const [created] = h.take(client);
    const parsed = parseClientIngress(created ?? { event: '' });
    if (parsed.kind !== 'message' || parsed.msg.event !== 'authorization_created') throw new Error(JSON.stringify(created));
    const a = parsed.msg.payload;
    expect(a).toMatchObject({ resource_id: h.resourceId('lab-net'), gateway_id: gw.id, gateway_public_key: KEYS.gw1, preshared_key: c.client.preshared_key });
    expect(a.client_ice_credentials).toEqual(c.client_ice_credentials);
    expect(a.gateway_ice_credentials).toEqual(c.gateway_ice_credentials);
    expect(a.gateway_ipv4).toBe(gw.init.interface.ipv4);
    expect(a.site_id).toBe([...h.core.config.sites.values()][0]?.id);
    expect(h.core.stats()).toMatchObject({ authorizationsActive: 1, authorizationsCreated: 1, authorizationsPending: 0 });
  });

  it('fails with not_found (also for resources the client may not see) and offline', () => {
    const text = EXAMPLE.replace('policies:', `  - name: secret\n    type: cidr\n    address: 10.9.0.0/16\n    sites: [lab]\npolicies:`);
    const h = new Harness(text);
    const { conn } = h.client();
    authorize(h, conn, '00000000-0000-0000-0000-000000000000');
    authorize(h, conn, h.resourceId('secret'));
    authorize(h, conn, h.resourceId('lab-net'));
    expect(h.take(conn).map((f) => [f.event, f.payload.reason])).toEqual([
      ['authorization_creation_failed', 'not_found'],
      ['authorization_creation_failed', 'not_found'],
      ['authorization_creation_failed', 'offline'],
    ]);
    expect(h.core.stats().authorizationsFailed).toEqual({ not_found: 2, offline: 1 });
  });

  it('forwards ICE candidates both ways between authorized peers only', () => {
    const h = new Harness();
    const gw = h.gateway();
    const { conn: client } = h.client();
    const cand = 'candidate:1 1 udp 2130706431 198.18.0.2 51820 typ host';
    h.send(client, { topic: 'client', event: 'new_gateway_ice_candidates', payload: { gateway_id: gw.id, candidates: [cand] }, ref: 1 });
    expect(h.take(gw.conn)).toEqual([]); // no authorization yet: dropped
    authorize(h, client, h.resourceId('lab-net'));
    ok(h, gw.conn);
    const clientId = h.core.deviceOf(client)?.id;
    h.send(client, { topic: 'client', event: 'new_gateway_ice_candidates', payload: { gateway_id: gw.id, candidates: [cand, 'junk'] }, ref: 2 });
    h.send(client, { topic: 'client', event: 'invalidate_gateway_ice_candidates', payload: { gateway_id: gw.id, candidates: [cand] }, ref: 3 });
    expect(h.take(gw.conn).map((f) => [f.event, f.payload])).toEqual([
      ['ice_candidates', { client_id: clientId, candidates: [cand] }],
      ['invalidate_ice_candidates', { client_id: clientId, candidates: [cand] }],
    ]);
    h.send(gw.conn, { topic: 'gateway', event: 'broadcast_ice_candidates', payload: { client_ids: [clientId, 'stranger'], candidates: [cand] }, ref: 4 });
    h.send(gw.conn, { topic: 'gateway', event: 'broadcast_invalidated_ice_candidates', payload: { client_ids: [clientId], candidates: [cand] }, ref: 5 });
    const frames = h.take(client);
    expect(frames.map((f) => [f.event, f.payload])).toEqual([
      ['ice_candidates', { gateway_id: gw.id, candidates: [cand] }],
      ['invalidate_ice_candidates', { gateway_id: gw.id, candidates: [cand] }],
    ]);
    for (const f of frames) expect(parseClientIngress(f).kind).toBe('message');
  });

  it('answers resolve_device_pool_domain with a resolution failure (device pools are not supported)', () => {
    const h = new Harness();
    const { conn } = h.client();
    h.send(conn, { topic: 'client', event: 'resolve_device_pool_domain', payload: { resource_id: 'r', domain: 'd.example' }, ref: 1 });
    expect(parseClientIngress(h.take(conn)[0] ?? { event: '' })).toMatchObject({ kind: 'message', msg: { event: 'device_pool_domain_resolution_failed' } });
  });
});
