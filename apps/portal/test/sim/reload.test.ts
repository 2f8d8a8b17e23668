import { describe, expect, it } from 'vitest';
import { parseClientIngress, parseGatewayIngress } from '@postern/model';
import { EXAMPLE, Harness, config } from '../support';

function setup() {
  const h = new Harness();
  const gw = h.gateway();
  const { conn: client } = h.client();
  h.send(client, { topic: 'client', event: 'request_authorization', payload: { resource_id: h.resourceId('lab-net'), connected_gateway_ids: [] }, ref: 1 });
  const [create] = h.take(gw.conn);
  h.send(gw.conn, { topic: 'gateway', event: 'authorization_created', payload: { ref: create?.payload.ref }, ref: 2 });
  h.take(client);
  return { h, gw, client, clientId: h.core.deviceOf(client)?.id };
}

describe('configuration reload', () => {
  it('revokes access when a policy goes away: resource_deleted to the client, reject_access to the gateway', () => {
    const { h, gw, client, clientId } = setup();
    const netId = h.resourceId('lab-net');
    h.core.reconfigure(config(EXAMPLE.replace('  - group: engineering\n    resource: lab-net\n', '')), h.now);
    h.flush();
    expect(h.take(client)).toEqual([{ topic: 'client', event: 'resource_deleted', payload: netId, ref: null }]);
    const frames = h.take(gw.conn);
    expect(frames.map((f) => [f.event, f.payload])).toEqual([['reject_access', { client_id: clientId, resource_id: netId }]]);
    expect(parseGatewayIngress(frames[0] ?? { event: '' }).kind).toBe('message');
    expect(h.core.stats().authorizationsActive).toBe(0);
    expect(h.closed.size).toBe(0); // nobody was disconnected
  });

  it('pushes changed filters to the client and to gateways with authorizations', () => {
    const { h, gw, client } = setup();
    const text = EXAMPLE.replace('    sites: [lab]\n  - name: lab-web', '    sites: [lab]\n    filters: [{protocol: tcp, port_range_start: 22, port_range_end: 22}]\n  - name: lab-web');
    h.core.reconfigure(config(text), h.now);
    h.flush();
    const [update] = h.take(client);
    expect(update?.event).toBe('resource_created_or_updated');
    expect(update?.payload.filters).toEqual([{ protocol: 'tcp', port_range_start: 22, port_range_end: 22 }]);
    expect(parseClientIngress(update ?? { event: '' }).kind).toBe('message');
    const [gwUpdate] = h.take(gw.conn);
    expect(gwUpdate).toMatchObject({ event: 'resource_updated', payload: { id: h.resourceId('lab-net'), filters: [{ protocol: 'tcp', port_range_start: 22 }] } });
  });

  it('announces new resources and DNS changes', () => {
    const { h, client } = setup();
    const text = EXAMPLE.replace('search_domain: corp.example', 'search_domain: new.example')
      .replace('policies:', '  - name: everything\n    type: internet\n    sites: [lab]\npolicies:\n  - group: engineering\n    resource: everything');
    h.core.reconfigure(config(text), h.now);
    h.flush();
    const frames = h.take(client);
    expect(frames.map((f) => f.event)).toEqual(['resource_created_or_updated', 'config_changed']);
    expect(frames[0]?.payload).toMatchObject({ type: 'internet', name: 'everything' });
    expect(frames[1]?.payload.interface.search_domain).toBe('new.example');
    for (const f of frames) expect(parseClientIngress(f).kind).toBe('message');
  });

  it('disconnects a client whose token was removed (token_expired) and closes a gateway whose token was removed', () => {
    const { h, gw, client } = setup();
    const text = EXAMPLE.replace(/gateways:\n(.|\n)*?clients:/, 'clients:').replace(/clients:\n(.|\n)*?relays:/, 'relays:');
    h.core.reconfigure(config(text), h.now);
    h.flush();
    expect(h.take(client).map((f) => [f.event, f.payload])).toContainEqual(['disconnect', { reason: 'token_expired' }]);
    expect(h.closed.get(client)?.code).toBe(4001);
    expect(h.closed.get(gw.conn)?.code).toBe(4001);
  });

  it('changes nothing when the configuration is the same', () => {
    const { h, gw, client } = setup();
    h.core.reconfigure(config(), h.now);
    h.flush();
    expect(h.take(client)).toEqual([]);
    expect(h.take(gw.conn)).toEqual([]);
  });
});
