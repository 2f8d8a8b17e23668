import { describe, expect, it } from 'vitest';
import {
  describeUpstream,
  formatIp,
  mapSentinels,
  reverseDnsAddr,
  StubResolver,
  type DnsResource,
  type StubEvent,
} from '../../src/index';
import { decode, fixture, query, SENTINEL } from '../support/dns';

const file = fixture('dns-stub-resolver.json');
const cases = file.cases as any[];

// ResourceId::from_u128(n) is rendered as the UUID with value n by the fixture extractor.
function rid(n: number | string): string {
  return typeof n === 'string' ? n : `00000000-0000-0000-0000-${n.toString(16).padStart(12, '0')}`;
}

function resource(r: any): DnsResource {
  return { id: rid(r.id), address: r.address, ipStack: r.ip_stack };
}

function stub(): StubResolver {
  return new StubResolver({ sentinels: mapSentinels({ system: ['1.1.1.1'] }) });
}

function run(s: StubResolver, q: any) {
  const action = s.handleQuery(query(q.name, q.qtype), SENTINEL, 0);
  if (action.kind !== 'respond') throw new Error(`expected a local response, got ${action.kind}`);
  return decode(action.response);
}

function drain(s: StubResolver): StubEvent[] {
  const out: StubEvent[] = [];
  for (let e = s.pollEvent(); e; e = s.pollEvent()) out.push(e);
  return out;
}

describe('dns-stub-resolver.json (Firezone)', () => {
  it('constants match ours', async () => {
    const m = await import('../../src/index');
    expect(m.IPV4_RESOURCES).toBe(file.constants.IPV4_RESOURCES);
    expect(m.IPV6_RESOURCES).toBe(file.constants.IPV6_RESOURCES);
    expect(m.DNS_SENTINELS_V4).toBe(file.constants.DNS_SENTINELS_V4);
    expect(m.DNS_SENTINELS_V6).toBe(file.constants.DNS_SENTINELS_V6);
    expect(m.DNS_TTL_SECS).toBe(file.constants.DNS_TTL_secs);
    expect(m.DOH_CANARY_DOMAIN).toBe(file.constants.DOH_CANARY_DOMAIN);
  });

  for (const c of cases.filter((c) => c.kind === 'reverse_dns')) {
    it(`${c.id}`, () => {
      const ip = reverseDnsAddr(c.name);
      expect(ip ? formatIp(ip) : null).toBe(c.expected_ip);
    });
  }

  for (const c of cases.filter((c) => c.kind === 'query' && !c.expected.records_changed_event)) {
    it(`${c.id}`, () => {
      const s = stub();
      for (const r of c.resources) s.addResource(resource(r));
      let res = run(s, c.query);
      if (c.then) {
        s.addResource(resource(c.then.re_add));
        res = run(s, c.then.query);
      }
      expect(res.rcode).toBe(c.expected.rcode);
      expect(res.answers?.length).toBe(c.expected.answers);
    });
  }

  it('first_assignment_proxy_ips: 4 v4 + 4 v6 sequential proxy IPs, one event, TTL 1 s', () => {
    const c = cases.find((c) => c.id === 'first_assignment_proxy_ips');
    const s = stub();
    for (const r of c.resources) s.addResource(resource(r));
    const res = run(s, c.query);
    expect(res.answers?.map((a) => [a.type, a.data, a.ttl])).toEqual(
      c.expected.records_changed_event[0].ips.filter((ip: string) => !ip.includes(':')).map((ip: string) => ['A', ip, 1]),
    );
    const events = drain(s);
    expect(events).toEqual([{ kind: 'records-changed', records: c.expected.records_changed_event }]);
    // Repeated queries emit no further event and answer the same IPs.
    run(s, c.query);
    const aaaa = run(s, { name: 'example.com', qtype: 'AAAA' });
    expect(aaaa.answers?.map((a) => a.data)).toEqual(c.expected.records_changed_event[0].ips.filter((ip: string) => ip.includes(':')));
    expect(drain(s)).toEqual([]);
  });

  it('stale_cached_assignment_reconciled', () => {
    const c = cases.find((c) => c.id === 'stale_cached_assignment_reconciled');
    const s = new StubResolver({ records: c.cached });
    s.addResource(resource(c.then.add_resource));
    expect(s.resolvedResources()).toHaveLength(c.expected.resolved_resources);
    expect(s.records()).toEqual(c.expected.records);
    // Seeded IPs are never handed out again.
    s.addResource({ id: 'x', address: 'new.example.com', ipStack: 'dual' });
    const res = run(s, { name: 'new.example.com', qtype: 'A' });
    expect(res.answers?.map((a) => a.data)).not.toContain('100.96.0.1');
  });

  for (const c of cases.filter((c) => c.kind === 'dns_config')) {
    it(`${c.id}`, () => {
      const table = mapSentinels({
        ...(c.input.system ? { system: c.input.system } : {}),
        ...(c.input.upstream_do53 ? { upstreamDo53: c.input.upstream_do53 } : {}),
        ...(c.input.upstream_doh ? { upstreamDoh: c.input.upstream_doh } : {}),
      });
      if (c.expected.sentinels !== undefined) expect(table.entries).toHaveLength(c.expected.sentinels);
      const described = table.upstreams.map((u) => {
        if (u.kind === 'do53') return describeUpstream(u);
        // The fixture names DoH providers by a short label ("DoH cloudflare").
        return `DoH ${new URL(u.url).hostname.replace(/-dns\.com$|^dns\./, '').replace(/\..*$/, '')}`;
      });
      expect(described).toEqual(c.expected.upstreams);
    });
  }

  it('device_pool cases do not apply: device pools are a portal-resolved feature outside this package', () => {
    expect(cases.filter((c) => c.kind === 'device_pool').length).toBeGreaterThan(0);
  });
});
