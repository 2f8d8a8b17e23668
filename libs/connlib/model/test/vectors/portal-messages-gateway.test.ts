import { describe, expect, it } from 'vitest';
import {
  ClientIceCandidatesSchema,
  FilterSchema,
  FlowLogsConfigSchema,
  KeySchema,
  SnownetCapabilitiesSchema,
  parseGatewayEgress,
  parseGatewayIngress,
  partitionGatewayResources,
  type GatewayIngressMessage,
} from '../../src/index';
import { loadCases, type FixtureCase } from '../fixtures/load';

const cases = loadCases('portal-messages-gateway.json');

function accepts(c: FixtureCase): boolean {
  const parseAs: string = c['parse_as'] ?? '';
  const json = c['json'];
  if (parseAs === 'messages::Filter') return FilterSchema.safeParse(json).success;
  if (parseAs.startsWith('Vec<gateway::ResourceDescription>')) return partitionGatewayResources(json).skipped.length === 0;
  if (parseAs.startsWith('gateway::ClientIceCandidates')) return ClientIceCandidatesSchema.safeParse(json).success;
  if (parseAs.startsWith('FlowLogsConfig')) return FlowLogsConfigSchema.safeParse(json).success;
  if (parseAs.startsWith('SnownetCapabilities')) return SnownetCapabilitiesSchema.safeParse(json).success;
  if (parseAs.startsWith('messages::Key')) return KeySchema.safeParse(json).success;
  if (c['direction'] === 'gateway->portal') return parseGatewayEgress(json).kind === 'message';
  return parseGatewayIngress(json).kind === 'message';
}

function byId(id: string): FixtureCase {
  const c = cases.find((x) => x.id === id);
  if (!c) throw new Error(`no fixture ${id}`);
  return c;
}

function ingress(c: FixtureCase): GatewayIngressMessage {
  const r = parseGatewayIngress(c['json']);
  if (r.kind !== 'message') throw new Error(`${c.id}: ${JSON.stringify(r)}`);
  return r.msg;
}

describe('Firezone gateway portal messages (portal-messages-gateway.json)', () => {
  it.each(cases.map((c) => [c.id, c] as const))('%s parses or is rejected as the fixture says', (_id, c) => {
    expect(accepts(c)).toBe(c['expect'] === 'ok');
  });

  it('fills filter port ranges with 0..65535', () => {
    for (const c of cases.filter((x) => x['parse_as'] === 'messages::Filter')) {
      expect(FilterSchema.parse(c['json'])).toEqual(c['asserts'].parsed);
    }
  });

  it('reads create_authorization: payload ref, expiry, ingest token, extra keys dropped', () => {
    const m = ingress(byId('create_authorization_with_ingest_token'));
    if (m.event !== 'create_authorization') throw new Error('event');
    expect(m.payload.ref.startsWith('SFMyNTY.')).toBe(true);
    expect(m.payload.expires_at).toBe(1729813989);
    expect(m.payload.use_iceless).toBe(false);
    expect(m.payload.resource).toEqual({ type: 'cidr', id: 'c7793628-8579-465b-83e3-1a5d4af4db3b', name: 'MyCorp Network', address: '172.20.0.0/16', filters: [] });
    expect(m.payload).not.toHaveProperty('actor');
    expect(m.payload.client_ice_credentials).toEqual({ username: 'hgwh', password: 'j2fqufatn7xlrrvv6fsvea' });
  });

  it('reads init with masquerade config and defaults relays', () => {
    const m = ingress(byId('init'));
    if (m.event !== 'init') throw new Error('event');
    expect(m.payload.config).toEqual({ ipv4_masquerade_enabled: true, ipv6_masquerade_enabled: true });
    expect(m.payload.relays).toEqual([]);
    expect(m.payload.flow_logs.upload_enabled).toBe(true);
  });

  it('reads resource_updated with a ?-pattern and protocol-only filters', () => {
    const m = ingress(byId('resource_updated_dns_with_filters'));
    expect(m).toMatchObject({ event: 'resource_updated', payload: { type: 'dns', address: '?.httpbin', filters: [{ protocol: 'icmp' }, { protocol: 'tcp', port_range_start: 0, port_range_end: 65535 }] } });
  });

  it('skips an unknown resource type on resource_updated', () => {
    expect(parseGatewayIngress({ event: 'resource_updated', payload: { type: 'static_device_pool', id: 'x' } }).kind).toBe('skipped');
  });

  it('drops malformed candidates', () => {
    expect(ClientIceCandidatesSchema.parse(byId('client_ice_candidates_payload_with_faulty_entries')['json']).candidates).toHaveLength(1);
  });

  it('serialises egress messages byte-for-byte like Firezone', () => {
    for (const c of cases.filter((x) => x['exact_string'] === true)) {
      const r = parseGatewayEgress(c['json']);
      if (r.kind !== 'message') throw new Error(c.id);
      expect(JSON.stringify({ event: r.msg.event, payload: r.msg.payload })).toBe(c['raw']);
    }
  });

  it('parses reject_access, access_authorization_expiry_updated and broadcast_* (no Firezone sample)', () => {
    expect(parseGatewayIngress({ event: 'reject_access', payload: { client_id: 'c', resource_id: 'r' } }).kind).toBe('message');
    expect(parseGatewayIngress({ event: 'access_authorization_expiry_updated', payload: { client_id: 'c', resource_id: 'r', expires_at: 5 } }).kind).toBe('message');
    expect(parseGatewayEgress({ event: 'broadcast_ice_candidates', payload: { client_ids: ['c'], candidates: [] } }).kind).toBe('message');
    expect(parseGatewayEgress({ event: 'broadcast_invalidated_ice_candidates', payload: { client_ids: ['c'], candidates: [] } }).kind).toBe('message');
    expect(parseGatewayIngress({ event: 'reject_access', payload: { client_id: 'c' } }).kind).toBe('invalid');
  });
});
