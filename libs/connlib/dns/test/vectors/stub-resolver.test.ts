import { describe, expect, it } from 'vitest';
import * as m from '../../src/index';
import { describeUpstream, formatIp, mapSentinels, reverseDnsAddr, StubResolver, type DnsResource } from '../../src/index';
import { decode, query, SENTINEL } from '../support/dns';
import { byId, loadFixture, need, type FixtureQuery, type FixtureResource, type StubCase } from '../support/fixtures';

const file = loadFixture<StubCase>('dns-stub-resolver.json');
const { cases } = file;

// ResourceId::from_u128(n) is rendered as the UUID with value n by the fixture extractor.
function rid(n: number): string {
  return `00000000-0000-0000-0000-${n.toString(16).padStart(12, '0')}`;
}

function resource(r: FixtureResource): DnsResource {
  return { id: rid(r.id), address: r.address, ipStack: r.ip_stack };
}

function stub(): StubResolver {
  return new StubResolver({ sentinels: mapSentinels({ system: ['1.1.1.1'] }) });
}

function run(s: StubResolver, q: FixtureQuery) {
  const action = s.handleQuery(query(q.name, q.qtype), SENTINEL, 0);
  if (action.kind !== 'respond') throw new Error(`expected a local response, got ${action.kind}`);
  return decode(action.response);
}

describe('dns-stub-resolver.json (Firezone)', () => {
  it('constants match ours', () => {
    const c = need(file.constants, 'constants');
    expect(m.IPV4_RESOURCES).toBe(c['IPV4_RESOURCES']);
    expect(m.IPV6_RESOURCES).toBe(c['IPV6_RESOURCES']);
    expect(m.DNS_SENTINELS_V4).toBe(c['DNS_SENTINELS_V4']);
    expect(m.DNS_SENTINELS_V6).toBe(c['DNS_SENTINELS_V6']);
    expect(m.DNS_TTL_SECS).toBe(c['DNS_TTL_secs']);
    expect(m.DOH_CANARY_DOMAIN).toBe(c['DOH_CANARY_DOMAIN']);
  });

  for (const c of cases.filter((c) => c.kind === 'reverse_dns')) {
    it(c.id, () => {
      const ip = reverseDnsAddr(need(c.name, 'name'));
      expect(ip ? formatIp(ip) : null).toBe(c.expected_ip);
    });
  }

  for (const c of cases.filter((c) => c.kind === 'query' && !c.expected?.records_changed_event)) {
    it(c.id, () => {
      const s = stub();
      for (const r of need(c.resources, 'resources')) s.addResource(resource(r));
      let res = run(s, need(c.query, 'query'));
      if (c.then) {
        s.addResource(resource(need(c.then.re_add, 're_add')));
        res = run(s, need(c.then.query, 'then.query'));
      }
      expect(res.rcode).toBe(c.expected?.rcode);
      expect(res.answers.length).toBe(c.expected?.answers);
    });
  }

  it('first_assignment_proxy_ips: 4 v4 + 4 v6 sequential proxy IPs, one event, TTL 1 s', () => {
    const c = byId(cases, 'first_assignment_proxy_ips');
    const expected = need(c.expected?.records_changed_event, 'records_changed_event');
    const ips = need(expected[0], 'event').ips;
    const s = stub();
    for (const r of need(c.resources, 'resources')) s.addResource(resource(r));
    const res = run(s, need(c.query, 'query'));
    expect(res.answers.map((a) => [a.type, a.data, a.ttl])).toEqual(ips.filter((ip) => !ip.includes(':')).map((ip) => ['A', ip, 1]));
    expect(s.pollEvent()).toEqual({ kind: 'records-changed', records: expected });
    expect(s.pollEvent()).toBeUndefined();
    // Repeated queries emit no further event and answer the same IPs.
    run(s, need(c.query, 'query'));
    const aaaa = run(s, { name: 'example.com', qtype: 'AAAA' });
    expect(aaaa.answers.map((a) => a.data)).toEqual(ips.filter((ip) => ip.includes(':')));
    expect(s.pollEvent()).toBeUndefined();
  });

  it('stale_cached_assignment_reconciled', () => {
    const c = byId(cases, 'stale_cached_assignment_reconciled');
    const s = new StubResolver({ records: need(c.cached, 'cached') });
    s.addResource(resource(need(c.then?.add_resource, 'add_resource')));
    expect(s.resolvedResources()).toHaveLength(need(c.expected?.resolved_resources, 'resolved_resources'));
    expect(s.records()).toEqual(c.expected?.records);
    // Seeded IPs are never handed out again.
    s.addResource({ id: 'x', address: 'new.example.com', ipStack: 'dual' });
    const res = run(s, { name: 'new.example.com', qtype: 'A' });
    expect(res.answers.map((a) => a.data)).not.toContain('100.96.0.1');
  });

  for (const c of cases.filter((c) => c.kind === 'dns_config')) {
    it(c.id, () => {
      const input = need(c.input, 'input');
      const table = mapSentinels({
        ...(input.system ? { system: input.system } : {}),
        ...(input.upstream_do53 ? { upstreamDo53: input.upstream_do53 } : {}),
        ...(input.upstream_doh ? { upstreamDoh: input.upstream_doh } : {}),
      });
      if (c.expected?.sentinels !== undefined) expect(table.entries).toHaveLength(c.expected.sentinels);
      const described = table.upstreams.map((u) => {
        if (u.kind === 'do53') return describeUpstream(u);
        // The fixture names DoH providers by a short label ("DoH cloudflare").
        return `DoH ${new URL(u.url).hostname.replace(/-dns\.com$|^dns\./, '').replace(/\..*$/, '')}`;
      });
      expect(described).toEqual(c.expected?.upstreams);
    });
  }

  it('device_pool cases do not apply: device pools are resolved by the portal, outside this package', () => {
    expect(cases.filter((c) => c.kind === 'device_pool').length).toBeGreaterThan(0);
  });
});
