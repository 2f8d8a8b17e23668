// Bad input into every entry point of ClientState and GatewayState: garbage from the TUN, garbage datagrams from
// the network, garbage inner packets from an authenticated client, and random portal messages. Nothing throws,
// and after each run the tunnel still carries traffic (the invariant: no state was lost or corrupted).
import { buildUdp } from '@postern/ip-packet';
import { ClientIngressSchema, GatewayIngressSchema, type ClientResourceWire } from '@postern/model';
import { fuzzRuns } from '@postern/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayHarness, addr } from '../support/gateway-harness';
import { CLIENT_V4, ip } from '../support/packets';
import { Sim } from '../support/sim';

const RUNS = fuzzRuns(1500);
const SITE = { id: 'site-a', name: 'A' };
const cidr = (id: string, address: string): ClientResourceWire => ({ type: 'cidr', id, address, name: id, sites: [SITE], filters: [] });

function udp(dst: string, n: number): Uint8Array {
  return buildUdp({ source: ip(CLIENT_V4), destination: ip(dst), sourcePort: 5000, destinationPort: 80, payload: new Uint8Array([n & 0xff]) });
}

/** Random bytes, or a valid packet with bytes overwritten (gets past the first checks more often). */
const garbage = fc.oneof(
  fc.uint8Array({ maxLength: 1500 }),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.array(fc.tuple(fc.nat({ max: 63 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat({ max: 64 })).map(([n, edits, cut]) => {
    const p = udp('10.0.0.1', n);
    for (const [i, v] of edits) if (i < p.length) p[i] = v;
    return cut > 0 && cut < p.length ? p.subarray(0, p.length - cut) : p;
  }),
);

function connected(): Sim {
  const sim = new Sim();
  sim.addGateway('gw-1', 'site-a', 1);
  sim.init([cidr('res-10', '10.0.0.0/24')]);
  sim.allowed.add('res-10');
  sim.send(udp('10.0.0.1', 0));
  sim.advance(100);
  expect(sim.delivered()).toContain('10.0.0.1:80#0');
  return sim;
}

/** A packet sent now reaches the resource within the tunnel's own recovery timers (a WireGuard retry is 5 s). */
function stillWorks(sim: Sim, n: number): void {
  const want = `10.0.0.1:80#${String(n & 0xff)}`;
  sim.send(udp('10.0.0.1', n));
  for (let waited = 0; waited < 8_000 && !sim.delivered().includes(want); waited += 100) sim.advance(100);
  expect(sim.delivered()).toContain(want);
}

describe('tunnel states: bad input', () => {
  it('garbage from the client TUN never throws; traffic still flows', () => {
    const sim = connected();
    fc.assert(
      fc.property(garbage, (bytes) => {
        sim.send(bytes);
      }),
      { numRuns: RUNS },
    );
    stillWorks(sim, 201);
  });

  it('garbage datagrams from anywhere into client and gateway never throw; traffic still flows', () => {
    const sim = connected();
    const gw = sim.gateways.get('gw-1');
    if (gw === undefined) throw new Error('no gateway');
    const from = fc.constantFrom(addr('198.18.24.9:3478'), addr('198.18.24.1:40000'), addr('[2001:db8::1]:9'), gw.addr);
    fc.assert(
      fc.property(from, garbage, fc.boolean(), (src, bytes, toClient) => {
        if (toClient) sim.client.handleNetworkDatagram(src, bytes, sim.now);
        else gw.state.handleNetworkDatagram(src, bytes, sim.now);
        sim.settle();
      }),
      { numRuns: RUNS },
    );
    stillWorks(sim, 202);
  });

  it('garbage inner packets from an authenticated client are dropped or refused, never forwarded unchecked', () => {
    const h = new GatewayHarness();
    h.authorize({ type: 'cidr', id: 'r', address: '10.0.0.0/24', filters: [] }, 0);
    expect(h.send(udp('10.0.0.1', 1), 0)).toBe('tun');
    fc.assert(
      fc.property(garbage, (bytes) => {
        const outcome = h.send(bytes, 1);
        // forwarded only if it is still a well-formed packet from the client to the resource
        if (outcome === 'tun') {
          expect(bytes[12]).toBe(100);
          expect(bytes[16]).toBe(10);
        }
      }),
      { numRuns: RUNS },
    );
    expect(h.send(udp('10.0.0.1', 2), 2)).toBe('tun');
  });

  it('random portal messages are refused by the schema or handled without throwing; traffic still flows', () => {
    const sim = connected();
    const gw = sim.gateways.get('gw-1');
    if (gw === undefined) throw new Error('no gateway');
    const clientEvents = ['init', 'resource_created_or_updated', 'resource_deleted', 'flow_created', 'reject_access', 'gateway_ice_candidates', 'invalidate_gateway_ice_candidates', 'relays_presence', 'config_changed'];
    const gatewayEvents = ['init', 'reject_access', 'ice_candidates', 'invalidate_ice_candidates', 'relays_presence', 'resource_updated', 'access_authorization_expiry_updated'];
    let parsed = 0;
    // well-shaped payloads with hostile values (addresses, candidates, relays, ids), plus arbitrary JSON
    const text = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('10.0.0.0/8', '0.0.0.0/0', '::/0', '10.0.0.1/33', '*.corp', 'candidate:1 1 UDP 1 198.18.24.9 3478 typ host', '198.18.24.9:3478', '[::1]:0', 'gw-1', 'site-a', 'res-10'));
    const payloads = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record({ type: fc.constantFrom('cidr', 'dns', 'internet'), id: text, address: text, name: text, sites: fc.constant([SITE]), filters: fc.constant([]) }),
      fc.record({ gateway_id: text, client_id: text, candidates: fc.array(text, { maxLength: 4 }) }),
      fc.record({ disconnected_ids: fc.array(text, { maxLength: 2 }), connected: fc.array(fc.record({ type: fc.constant('turn'), id: text, addr: text, username: text, password: text, expires_at: fc.nat() }), { maxLength: 2 }) }),
      fc.record({ id: text }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.constantFrom(...clientEvents), fc.constantFrom(...gatewayEvents), payloads, (toClient, ce, ge, payload) => {
        // messages about the world's own resource may legitimately change or revoke it (a new address, an expiry)
        const touchesWorld = JSON.stringify(payload).includes('res-10');
        if (toClient) {
          const m = ClientIngressSchema.safeParse({ event: ce, payload });
          // an `init` with an empty resource list would legitimately remove the resource: keep the world's
          if (m.success && m.data.event !== 'init' && m.data.event !== 'resource_deleted' && m.data.event !== 'reject_access' && !touchesWorld) {
            parsed++;
            sim.client.handlePortalMessage(m.data, sim.now);
          }
        } else {
          const m = GatewayIngressSchema.safeParse({ event: ge, payload });
          if (m.success && m.data.event !== 'init' && m.data.event !== 'reject_access' && !touchesWorld) {
            parsed++;
            gw.state.handlePortalMessage(m.data, sim.now);
          }
        }
        sim.settle();
      }),
      { numRuns: RUNS },
    );
    process.stdout.write(`tunnel portal fuzz: ${String(parsed)} schema-valid messages handled\n`);
    stillWorks(sim, 203);
  });
});
