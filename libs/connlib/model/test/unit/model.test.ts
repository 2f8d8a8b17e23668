import { describe, expect, it } from 'vitest';
import {
  ClientIngressSchema,
  GatewayIngressSchema,
  MAX_DATAGRAM,
  TUN_MTU,
  TURN_CHANNEL_HEADER,
  TUNNEL_IPV4_RANGE,
  TUNNEL_IPV6_RANGE,
  WIREGUARD_OVERHEAD,
  decodeKey,
  encodeKey,
  parseClientIngress,
  parseRelayIngress,
  RelayJoinSchema,
  type ClientIngressWire,
  type GatewayIngressWire,
} from '../../src/index';

const KEY = 'S6REkbStSNMfn8hpLkVxibjR+zz3RO/Gq40TprHJE2U=';

describe('model', () => {
  it('keeps the address plan of DESIGN.md', () => {
    expect(TUNNEL_IPV4_RANGE.cidr).toBe('100.64.0.0/11');
    expect(TUNNEL_IPV6_RANGE.cidr).toBe('fd00:2021:1111::/107');
    expect(TUN_MTU + WIREGUARD_OVERHEAD + TURN_CHANNEL_HEADER).toBe(MAX_DATAGRAM);
  });

  it('round-trips keys and refuses wrong lengths', () => {
    expect(encodeKey(decodeKey(KEY))).toBe(KEY);
    expect(() => decodeKey('AAAA')).toThrow();
  });

  it('re-parses what the portal would send (output form is valid wire)', () => {
    const init: ClientIngressWire = {
      event: 'init',
      payload: {
        interface: { ipv4: '100.64.0.2', ipv6: 'fd00:2021:1111::2', upstream_do53: [{ ip: '1.1.1.1' }], search_domain: 'corp.example' },
        resources: [{ type: 'cidr', id: 'r1', address: '198.18.27.0/24', name: 'lab', sites: [{ id: 's1', name: 'site' }], filters: [{ protocol: 'tcp', port_range_start: 22 }] }],
        relays: [{ type: 'turn', id: 'relay1', addr: '198.18.0.1:3478', username: '1:x', password: 'y', expires_at: 1 }],
        flow_logs: { api_url: 'http://127.0.0.1', upload_interval_secs: 0, upload_batch_size: 0 },
      },
    };
    const once = ClientIngressSchema.parse(init);
    const twice = ClientIngressSchema.parse(JSON.parse(JSON.stringify(once)));
    expect(twice).toEqual(once);
    if (once.event !== 'init') throw new Error('event');
    expect(once.payload.flow_logs.upload_enabled).toBe(false);
    expect(once.payload.resources[0]).toMatchObject({ filters: [{ protocol: 'tcp', port_range_start: 22, port_range_end: 65535 }] });

    const create: GatewayIngressWire = {
      event: 'create_authorization',
      payload: {
        ref: 'r-1',
        resource: { type: 'cidr', id: 'r1', address: '198.18.27.0/24', name: 'lab', filters: [] },
        client: { id: 'c1', public_key: KEY, preshared_key: KEY, ipv4: '100.64.0.2', ipv6: 'fd00:2021:1111::2' },
        client_ice_credentials: { username: 'aaaa', password: 'b'.repeat(22) },
        gateway_ice_credentials: { username: 'cccc', password: 'd'.repeat(22) },
        expires_at: null,
        flow_logs_ingest_token: 'a.b.c',
      },
    };
    expect(GatewayIngressSchema.parse(create).event).toBe('create_authorization');
  });

  it('requires one of sites/gateway_groups on client resources', () => {
    const r = parseClientIngress({ event: 'resource_created_or_updated', payload: { type: 'cidr', id: 'r', address: '10.0.0.0/8', name: 'n' } });
    expect(r.kind === 'invalid' && r.error).toContain('sites');
  });

  it('validates the relay join and init', () => {
    expect(RelayJoinSchema.safeParse({ stamp_secret: 'ab'.repeat(32) }).success).toBe(true);
    expect(RelayJoinSchema.safeParse({ stamp_secret: 'xyz' }).success).toBe(false);
    expect(parseRelayIngress({ event: 'init', payload: {} })).toMatchObject({ kind: 'message', msg: { event: 'init', payload: {} } });
  });
});
