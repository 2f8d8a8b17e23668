// The crown test (first version): a reference model of what the client can reach vs the real ClientState +
// GatewayStates + fake portal over the simulated network, under random operations (add/change/remove
// resources and filters, grant/revoke access, send packets, reset and roam the client, restart gateways, toggle the
// Internet resource).
import { buildUdp, cidrContains, parseCidr } from '@postern/ip-packet';
import type { ClientResourceWire } from '@postern/model';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ip } from '../support/packets';
import { Sim } from '../support/sim';

const SITE = { id: 'site-a', name: 'A' };
const IDS = ['r0', 'r1', 'r2', 'r3'];
const CIDRS = ['10.0.0.0/24', '10.0.0.0/28', '10.0.0.8/29', '10.0.1.0/24', '10.0.0.0/16'];
const DSTS = ['10.0.0.1', '10.0.0.9', '10.0.1.5', '10.0.2.1', '8.8.8.8', '192.168.1.1'];
const PRIVATE = ['10.0.0.0/8', '192.168.0.0/16'].map((c) => parseCidr(c));
/**
 * Fake time that passes between two operations. A WireGuard responder drops an initiation whose TAI64N timestamp
 * (whole milliseconds) is not newer than the last one, and initiations less than 20 ms apart
 * (HANDSHAKE_INITIATION_MIN_INTERVAL, as wireguard-go); the initiator then retries after REKEY_TIMEOUT (5 s).
 * With no time between two resets/roams the second handshake was dropped and the next packet arrived 5 s later
 * instead of within 100 ms: the counterexample `internet on, send, roam, roam, send` that made MODEL_SEED=random
 * fail. That delay is WireGuard's own behaviour (the packet is not lost: see tunnel.test.ts); the model keeps the
 * strict 100 ms expectation with a realistic minimum time between operations.
 */
const OP_GAP_MS = 25;

type Filter = readonly [number, number] | null;
interface ModelResource {
  readonly cidr: string;
  readonly filter: Filter;
}

type Op =
  | { readonly op: 'upsert'; readonly id: string; readonly cidr: string; readonly filter: Filter }
  | { readonly op: 'remove'; readonly id: string }
  | { readonly op: 'allow'; readonly id: string }
  | { readonly op: 'reject'; readonly id: string }
  | { readonly op: 'send'; readonly dst: string; readonly port: number }
  | { readonly op: 'reset' }
  | { readonly op: 'roam' }
  | { readonly op: 'restartGateway' }
  | { readonly op: 'internet'; readonly active: boolean }
  | { readonly op: 'wait'; readonly ms: number };

const filterArb: fc.Arbitrary<Filter> = fc.oneof(
  fc.constant(null),
  fc.tuple(fc.integer({ min: 50, max: 90 }), fc.integer({ min: 0, max: 40 })).map(([lo, w]) => [lo, lo + w] as const),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('upsert' as const), id: fc.constantFrom(...IDS), cidr: fc.constantFrom(...CIDRS), filter: filterArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), id: fc.constantFrom(...IDS) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('allow' as const), id: fc.constantFrom(...IDS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reject' as const), id: fc.constantFrom(...IDS) }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('send' as const), dst: fc.constantFrom(...DSTS), port: fc.integer({ min: 40, max: 140 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reset' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'roam' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'restartGateway' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('internet' as const), active: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 5000 }) }) },
);

class Model {
  readonly resources = new Map<string, ModelResource>();
  readonly allowed = new Set<string>();
  internetActive = false;

  /** Longest prefix among CIDR resources (ties: highest id), then the Internet resource when active. */
  route(dst: string): string | undefined {
    let best: { id: string; prefix: number } | undefined;
    for (const [id, r] of this.resources) {
      const c = parseCidr(r.cidr);
      if (c === undefined || !cidrContains(c, ip(dst))) continue;
      if (best === undefined || c.prefix > best.prefix || (c.prefix === best.prefix && id > best.id)) best = { id, prefix: c.prefix };
    }
    if (best !== undefined) return best.id;
    return this.internetActive ? 'internet' : undefined;
  }

  reaches(dst: string, port: number): boolean {
    const route = this.route(dst);
    if (route === undefined) return false;
    if (route === 'internet') return !PRIVATE.some((c) => c !== undefined && cidrContains(c, ip(dst)));
    const r = this.resources.get(route);
    if (r === undefined || !this.allowed.has(route)) return false;
    return r.filter === null || (port >= r.filter[0] && port <= r.filter[1]);
  }
}

function wire(id: string, r: ModelResource): ClientResourceWire {
  return {
    type: 'cidr',
    id,
    address: r.cidr,
    name: id,
    sites: [SITE],
    filters: r.filter === null ? [] : [{ protocol: 'udp', port_range_start: r.filter[0], port_range_end: r.filter[1] }],
  };
}

function run(ops: readonly Op[]): void {
  const sim = new Sim();
  let gateways = 0;
  const addGateway = () => {
    gateways++;
    sim.addGateway(`gw-${String(gateways)}`, 'site-a', gateways);
  };
  addGateway();
  addGateway();
  sim.init([{ type: 'internet', id: 'res-internet', name: 'Internet', sites: [SITE] }]);
  sim.allowed.add('res-internet');
  const model = new Model();
  let marker = 0;
  for (const o of ops) {
    sim.advance(OP_GAP_MS);
    switch (o.op) {
      case 'upsert': {
        const r = { cidr: o.cidr, filter: o.filter };
        model.resources.set(o.id, r);
        sim.upsertResource(wire(o.id, r));
        break;
      }
      case 'remove':
        model.resources.delete(o.id);
        sim.deleteResource(o.id);
        break;
      case 'allow':
        model.allowed.add(o.id);
        sim.allowed.add(o.id);
        break;
      case 'reject':
        model.allowed.delete(o.id);
        sim.rejectAccess(o.id);
        break;
      case 'reset':
        sim.client.reset(sim.now);
        sim.settle();
        break;
      case 'roam':
        sim.roam();
        break;
      case 'restartGateway': {
        const alive = [...sim.gateways.values()].find((g) => g.alive);
        if (alive !== undefined) sim.stopGateway(alive.id, true);
        addGateway();
        break;
      }
      case 'internet':
        model.internetActive = o.active;
        sim.client.setInternetResourceActive(o.active);
        break;
      case 'wait':
        sim.advance(o.ms);
        break;
      case 'send': {
        marker = (marker + 1) & 0xff;
        const before = sim.delivered().length;
        sim.send(buildUdp({ source: ip('100.64.0.1'), destination: ip(o.dst), sourcePort: 5000, destinationPort: o.port, payload: new Uint8Array([marker]) }));
        sim.advance(100);
        const got = sim.delivered().slice(before);
        const expected = model.reaches(o.dst, o.port) ? [`${o.dst}:${String(o.port)}#${String(marker)}`] : [];
        expect(got, `send ${o.dst}:${String(o.port)} after ${JSON.stringify(ops.slice(0, ops.indexOf(o)))}`).toEqual(expected);
        // a refused request is forgotten; a new one may go out at once next time
        sim.advance(2000);
        break;
      }
    }
  }
}

describe('tunnel model', () => {
  it('reaches exactly what the reference model says under random operations', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
        run(ops);
      }),
      // A fixed seed keeps CI deterministic; MODEL_SEED=random (with MODEL_RUNS=n) explores new sequences.
      {
        numRuns: Number(process.env.MODEL_RUNS ?? 40),
        ...(process.env.MODEL_SEED === 'random' ? {} : { seed: Number(process.env.MODEL_SEED ?? 20261125) }),
      },
    );
  }, 120_000);
});
