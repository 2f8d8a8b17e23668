import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ClientResourceSchema,
  FlowLogsConfigSchema,
  GatewayIceCandidatesSchema,
  KeySchema,
  RelayListSchema,
  SnownetCapabilitiesSchema,
  parseClientEgress,
  parseClientIngress,
  partitionClientResources,
  type ClientIngressMessage,
} from '../../src/index';
import { loadCases, type FixtureCase } from '../fixtures/load';

const cases = loadCases('portal-messages-client.json');

// The Rust loadtest's own minimal parser: only `init` and its TURN relays.
const LoadtestIngress = z.object({ event: z.literal('init'), payload: z.object({ relays: RelayListSchema }) });

function accepts(c: FixtureCase): boolean {
  const parseAs: string = c['parse_as'] ?? '';
  const json = c['json'];
  if (c['parser']) return LoadtestIngress.safeParse(json).success;
  if (parseAs.startsWith('InitClient')) return parseClientIngress({ event: 'init', payload: json }).kind === 'message';
  if (parseAs.startsWith('Vec<ResourceDescription>')) return Array.isArray(json);
  if (parseAs.startsWith('ResourceDescription::')) {
    return (Array.isArray(json) ? json : [json]).every((r) => ClientResourceSchema.safeParse(r).success);
  }
  if (parseAs.startsWith('GatewayIceCandidates')) return GatewayIceCandidatesSchema.safeParse(json).success;
  if (parseAs.startsWith('FlowLogsConfig')) return FlowLogsConfigSchema.safeParse(json).success;
  if (parseAs.startsWith('SnownetCapabilities')) return SnownetCapabilitiesSchema.safeParse(json).success;
  if (parseAs.startsWith('messages::Key')) return KeySchema.safeParse(json).success;
  if (c['direction'] === 'client->portal') return parseClientEgress(json).kind === 'message';
  return parseClientIngress(json).kind === 'message';
}

function ingress(c: FixtureCase): ClientIngressMessage {
  const r = parseClientIngress(c['json']);
  if (r.kind !== 'message') throw new Error(`${c.id}: ${JSON.stringify(r)}`);
  return r.msg;
}

function byId(id: string): FixtureCase {
  const c = cases.find((x) => x.id === id);
  if (!c) throw new Error(`no fixture ${id}`);
  return c;
}

describe('Firezone client portal messages (portal-messages-client.json)', () => {
  it.each(cases.map((c) => [c.id, c] as const))('%s parses or is rejected as the fixture says', (_id, c) => {
    expect(accepts(c)).toBe(c['expect'] === 'ok');
  });

  it('derives upload_enabled from the flow-log interval', () => {
    const msg = parseClientIngress({ event: 'init', payload: byId('init_payload_with_flow_logs')['json'] });
    expect(msg.kind).toBe('message');
    if (msg.kind === 'message' && msg.msg.event === 'init') {
      expect(msg.msg.payload.flow_logs).toMatchObject({ api_url: 'https://flow-api.firezone.dev', upload_enabled: true });
      expect(msg.msg.payload.resources).toEqual([]);
      expect(msg.msg.payload.relays).toEqual([]);
    }
  });

  it('treats gateway_groups as sites and drops unknown resource types', () => {
    const { resources, skipped } = partitionClientResources(byId('resources_list_with_unknown_type')['json']);
    expect(resources.map((r) => r.type)).toEqual(['cidr', 'dns', 'internet']);
    expect(resources[0]).toMatchObject({ sites: [{ id: 'bf56f32d-7b2c-4f5d-a784-788977d014a4', name: 'test' }] });
    expect(resources[2]).not.toHaveProperty('not');
    expect(skipped).toEqual([{ index: 3, reason: 'unknown type what_is_this' }]);
  });

  it('keeps only the well-formed resource of an init with malformed ones, with warnings', () => {
    const r = parseClientIngress(byId('init_with_malformed_resources')['json']);
    expect(r.kind).toBe('message');
    if (r.kind !== 'message' || r.msg.event !== 'init') return;
    expect(r.msg.payload.resources.map((x) => x.id)).toEqual(['03000143-e25e-45c7-aafb-144990e57dce']);
    expect(r.warnings).toHaveLength(3);
  });

  it('maps the legacy ice_candidates aliases to the gateway_* events', () => {
    expect(ingress(byId('ice_candidates_legacy_alias')).event).toBe('gateway_ice_candidates');
    expect(ingress(byId('invalidate_ice_candidates_legacy_alias')).event).toBe('invalidate_gateway_ice_candidates');
  });

  it('reads authorization_created with gateway_group_id as site_id, use_iceless default and the ingest token verbatim', () => {
    const without = ingress(byId('authorization_created_without_use_iceless'));
    const withIceless = ingress(byId('authorization_created_with_use_iceless'));
    if (without.event !== 'authorization_created' || withIceless.event !== 'authorization_created') throw new Error('event');
    expect(without.payload.site_id).toBe('ef42a07f-87d0-40da-baa7-e881e619ea1c');
    expect(without.payload.use_iceless).toBe(false);
    expect(withIceless.payload.use_iceless).toBe(true);
    expect(without.payload.flow_logs_ingest_token).toBe(byId('authorization_created_without_use_iceless')['json'].payload.flow_logs_ingest_token);
  });

  it('maps unknown failure reasons to unknown and keeps known ones', () => {
    const unknown = ingress(byId('authorization_creation_failed_unknown_reason'));
    const offline = ingress(byId('authorization_creation_failed_offline'));
    expect(unknown.event === 'authorization_creation_failed' && unknown.payload.reason).toBe('unknown');
    expect(offline.event === 'authorization_creation_failed' && offline.payload.reason).toBe('offline');
  });

  it('skips candidates that are not SDP candidate lines', () => {
    const c = byId('gateway_ice_candidates_payload_with_faulty_entries');
    expect(GatewayIceCandidatesSchema.parse(c['json']).candidates).toEqual(c['asserts'].kept);
    const r = parseClientIngress({ event: 'gateway_ice_candidates', payload: c['json'] });
    expect(r.kind === 'message' && r.warnings).toEqual(['skipped 3 malformed ICE candidate(s)']);
  });

  it('defaults ip_stack to dual and reads the others', () => {
    for (const [id, stack] of [
      ['dns_resource_ip_stack_ipv4only', 'ipv4_only'],
      ['dns_resource_ip_stack_ipv6only', 'ipv6_only'],
      ['dns_resource_ip_stack_dual', 'dual'],
      ['dns_resource_ip_stack_dual_default', 'dual'],
    ] as const) {
      expect(ClientResourceSchema.parse(byId(id)['json'])).toMatchObject({ ip_stack: stack });
    }
  });

  it('compares sites by id: a renamed site is the same site', () => {
    const [before, after] = byId('dns_resource_site_rename_pair')['json'].map((r: unknown) => ClientResourceSchema.parse(r));
    expect(before.sites.map((s: { id: string }) => s.id)).toEqual(after.sites.map((s: { id: string }) => s.id));
  });

  it('reads static device pools with client_id as id', () => {
    const { resources } = partitionClientResources(byId('resources_static_device_pool')['json']);
    expect(resources[0]).toMatchObject({ name: 'IoT Devices', devices: byId('resources_static_device_pool')['asserts'].devices });
  });

  it('reads client_device_access_authorized with its resource and expiry', () => {
    const m = ingress(byId('client_device_access_authorized'));
    if (m.event !== 'client_device_access_authorized') throw new Error('event');
    expect(m.payload.expires_at).toBe(1729813989);
    expect(m.payload.resource).toEqual({ id: '733e8d14-c18d-4931-af30-3639fa09c0c0', filters: [] });
  });

  it('serialises egress messages byte-for-byte like Firezone', () => {
    for (const c of cases.filter((x) => x['exact_string'] === true)) {
      const r = parseClientEgress(c['json']);
      if (r.kind !== 'message') throw new Error(c.id);
      expect(JSON.stringify({ event: r.msg.event, payload: r.msg.payload })).toBe(c['raw']);
    }
  });

  it('reports unknown events as unknown-event, not as errors', () => {
    expect(parseClientIngress({ event: 'brand_new_feature', payload: { x: 1 } })).toEqual({ kind: 'unknown-event', event: 'brand_new_feature' });
  });

  it('skips resource_created_or_updated of an unknown type', () => {
    const r = parseClientIngress({ event: 'resource_created_or_updated', payload: { type: 'what_is_this', id: 'x' } });
    expect(r.kind).toBe('skipped');
  });

  it('says which field is wrong in an invalid payload', () => {
    const r = parseClientIngress({ event: 'relays_presence', payload: { connected: [] } });
    expect(r).toMatchObject({ kind: 'invalid', event: 'relays_presence' });
    expect(r.kind === 'invalid' && r.error).toContain('payload.disconnected_ids');
  });
});
