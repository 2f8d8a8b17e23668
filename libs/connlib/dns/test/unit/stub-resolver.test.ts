import { describe, expect, it } from 'vitest';
import * as dnsPacket from 'dns-packet';
import { mapSentinels, reverseDnsName, parseIp, StubResolver, type StubAction } from '../../src/index';
import { answer, decode, query, SENTINEL } from '../support/dns';

const sentinels = mapSentinels({ upstreamDo53: ['192.0.2.53', '2001:db8::53'] });

function resolver(): StubResolver {
  const s = new StubResolver({ sentinels, searchDomain: 'corp.internal' });
  s.addResource({ id: 'r-app', address: 'app.corp.internal', ipStack: 'dual' });
  s.addResource({ id: 'r-wild', address: '**.corp.internal', ipStack: 'dual' });
  return s;
}

function respond(a: StubAction) {
  if (a.kind !== 'respond') throw new Error(`expected respond, got ${a.kind}`);
  return decode(a.response);
}

describe('StubResolver', () => {
  it('maps upstreams to sentinels per family', () => {
    expect(sentinels.entries).toEqual([
      { sentinel: '100.100.111.1', upstream: { kind: 'do53', ip: '192.0.2.53', port: 53 } },
      { sentinel: 'fd00:2021:1111:8000:100:100:111:0', upstream: { kind: 'do53', ip: '2001:db8::53', port: 53 } },
    ]);
    expect(sentinels.upstreamFor('FD00:2021:1111:8000:100:100:111:0')).toEqual({ kind: 'do53', ip: '2001:db8::53', port: 53 });
  });

  it('answers A for a resource with the query id, RD/RA and the name as asked', () => {
    const res = respond(resolver().handleQuery(query('App.Corp.Internal', 'A', 0xbeef), SENTINEL, 0));
    expect(res.id).toBe(0xbeef);
    expect(res.flag_qr && res.flag_rd && res.flag_ra).toBe(true);
    expect(res.answers.map((a) => [a.name, a.type, a.data])).toEqual([
      ['App.Corp.Internal', 'A', '100.96.0.1'],
      ['App.Corp.Internal', 'A', '100.96.0.2'],
      ['App.Corp.Internal', 'A', '100.96.0.3'],
      ['App.Corp.Internal', 'A', '100.96.0.4'],
    ]);
  });

  it('keeps proxy IPs stable per name and distinct across names', () => {
    const s = resolver();
    const a1 = respond(s.handleQuery(query('a.corp.internal', 'A'), SENTINEL, 0)).answers.map((a) => a.data);
    const b = respond(s.handleQuery(query('b.corp.internal', 'A'), SENTINEL, 0)).answers.map((a) => a.data);
    const a2 = respond(s.handleQuery(query('A.corp.internal.', 'A'), SENTINEL, 5000)).answers.map((a) => a.data);
    expect(a2).toEqual(a1);
    expect(b).toEqual(['100.96.0.5', '100.96.0.6', '100.96.0.7', '100.96.0.8']);
    expect(s.proxyIpsFor('b.corp.internal')).toContain('fd00:2021:1111:8000::7');
  });

  it('looks up the owner of a proxy IP, most specific resource first, honouring ip_stack', () => {
    const s = resolver();
    s.addResource({ id: 'r-v4', address: 'v4.corp.internal', ipStack: 'ipv4_only' });
    respond(s.handleQuery(query('app.corp.internal', 'A'), SENTINEL, 0));
    respond(s.handleQuery(query('v4.corp.internal', 'A'), SENTINEL, 0));
    expect(s.lookupProxyIp('100.96.0.1')).toEqual({ name: 'app.corp.internal', resourceId: 'r-app', resourceIds: ['r-app', 'r-wild'] });
    expect(s.lookupProxyIp('fd00:2021:1111:8000:0:0:0:4')).toEqual({ name: 'v4.corp.internal', resourceId: 'r-wild', resourceIds: ['r-wild'] });
    s.removeResource('r-wild');
    expect(s.lookupProxyIp('fd00:2021:1111:8000::4')).toBeUndefined();
    expect(s.lookupProxyIp('100.96.0.5')?.resourceId).toBe('r-v4');
    expect(s.lookupProxyIp('100.96.9.9')).toBeUndefined();
    expect(s.lookupProxyIp('not an ip')).toBeUndefined();
  });

  it('answers PTR of a proxy IP with its name and forwards other PTRs', () => {
    const s = resolver();
    respond(s.handleQuery(query('app.corp.internal', 'A'), SENTINEL, 0));
    for (const ip of ['100.96.0.3', 'fd00:2021:1111:8000::2']) {
      const parsed = parseIp(ip);
      if (!parsed) throw new Error('bad ip');
      const res = respond(s.handleQuery(query(reverseDnsName(parsed), 'PTR'), SENTINEL, 0));
      expect(res.answers.map((a) => [a.type, a.data])).toEqual([['PTR', 'app.corp.internal']]);
    }
    expect(s.handleQuery(query('4.3.2.1.in-addr.arpa', 'PTR'), SENTINEL, 0).kind).toBe('forward');
  });

  it('answers HTTPS for a resource with an empty NOERROR and forwards it otherwise', () => {
    const s = resolver();
    const res = respond(s.handleQuery(query('app.corp.internal', 'HTTPS'), SENTINEL, 0));
    expect([res.rcode, res.answers.length]).toEqual(['NOERROR', 0]);
    expect(s.handleQuery(query('example.com', 'HTTPS'), SENTINEL, 0).kind).toBe('forward');
  });

  it('sends SRV/TXT of a resource to its site, the most specific resource', () => {
    const s = resolver();
    expect(s.handleQuery(query('_ldap._tcp.corp.internal', 'SRV'), SENTINEL, 0)).toMatchObject({ kind: 'forward-to-site', resourceId: 'r-wild' });
    expect(s.handleQuery(query('app.corp.internal', 'TXT'), SENTINEL, 0)).toMatchObject({ kind: 'forward-to-site', resourceId: 'r-app' });
    expect(s.handleQuery(query('example.com', 'TXT'), SENTINEL, 0).kind).toBe('forward');
  });

  it('completes single-label names with the search domain (CNAME to the full name)', () => {
    const s = new StubResolver({ sentinels, searchDomain: '.corp.internal.' });
    s.addResource({ id: 'r-app', address: 'app.corp.internal', ipStack: 'ipv4_only' });
    const res = respond(s.handleQuery(query('app', 'A'), SENTINEL, 0));
    expect(res.answers[0]).toMatchObject({ type: 'CNAME', name: 'app', data: 'app.corp.internal' });
    expect(res.answers.slice(1).map((a) => [a.name, a.type])).toEqual(Array(4).fill(['app.corp.internal', 'A']));
    expect(s.handleQuery(query('other', 'A'), SENTINEL, 0).kind).toBe('forward');
    s.setSearchDomain(undefined);
    expect(s.handleQuery(query('app', 'A'), SENTINEL, 0).kind).toBe('forward');
  });

  it('forwards non-resource names to the upstream behind the sentinel, unchanged', () => {
    const s = resolver();
    const q = query('example.com', 'A');
    expect(s.handleQuery(q, SENTINEL, 0)).toEqual({ kind: 'forward', upstream: { kind: 'do53', ip: '192.0.2.53', port: 53 }, query: q });
    const v6 = s.handleQuery(q, 'fd00:2021:1111:8000:100:100:111:0', 0);
    expect(v6).toMatchObject({ kind: 'forward', upstream: { ip: '2001:db8::53' } });
    expect(respond(s.handleQuery(q, '100.100.111.77', 0)).rcode).toBe('SERVFAIL');
  });

  it('caches forwarded answers for their TTL, with ages applied and the asker id', () => {
    const s = resolver();
    const upstream = { kind: 'do53', ip: '192.0.2.53', port: 53 } as const;
    const q = query('example.com', 'A', 1);
    expect(s.handleQuery(q, SENTINEL, 900).kind).toBe('forward');
    expect(s.handleUpstreamResponse(upstream, answer(q, [{ type: 'A', name: 'example.com', ttl: 30, data: '93.184.216.34' }]), 1000)).toBe(true);
    const hit = respond(s.handleQuery(query('EXAMPLE.com', 'A', 2), SENTINEL, 11_500));
    expect(hit.id).toBe(2);
    expect(hit.questions?.[0]?.name).toBe('EXAMPLE.com');
    expect(hit.answers[0]).toMatchObject({ data: '93.184.216.34', ttl: 20 });
    expect(s.handleQuery(query('example.com', 'A', 3), SENTINEL, 31_000).kind).toBe('forward');
    // Another upstream's cache is separate.
    expect(s.handleQuery(query('example.com', 'A', 4), 'fd00:2021:1111:8000:100:100:111:0', 2000).kind).toBe('forward');
  });

  it('caches NXDOMAIN by the SOA minimum and never caches SERVFAIL or truncated answers', () => {
    const s = resolver();
    const upstream = { kind: 'do53', ip: '192.0.2.53', port: 53 } as const;
    const nx = query('nope.example.com', 'A');
    const soa = { type: 'SOA' as const, name: 'example.com', ttl: 300, data: { mname: 'ns', rname: 'h', minimum: 5 } };
    s.handleQuery(nx, SENTINEL, 0);
    s.handleUpstreamResponse(upstream, answer(nx, [], { flags: 3, authorities: [soa] }), 0);
    expect(respond(s.handleQuery(nx, SENTINEL, 4_999)).rcode).toBe('NXDOMAIN');
    expect(s.handleQuery(nx, SENTINEL, 5_000).kind).toBe('forward');
    const sf = query('sf.example.com', 'A');
    s.handleQuery(sf, SENTINEL, 0);
    s.handleUpstreamResponse(upstream, answer(sf, [], { flags: 2 }), 0);
    expect(s.handleQuery(sf, SENTINEL, 1).kind).toBe('forward');
    const tc = query('tc.example.com', 'A');
    s.handleQuery(tc, SENTINEL, 0);
    s.handleUpstreamResponse(upstream, answer(tc, [{ type: 'A', name: 'tc.example.com', ttl: 60, data: '1.2.3.4' }], { flags: dnsPacket.TRUNCATED_RESPONSE }), 0);
    expect(s.handleQuery(tc, SENTINEL, 1).kind).toBe('forward');
  });

  it('caches only answers to queries it forwarded, from that upstream, within 10 s', () => {
    const s = resolver();
    const upstream = { kind: 'do53', ip: '192.0.2.53', port: 53 } as const;
    const other = { kind: 'do53', ip: '2001:db8::53', port: 53 } as const;
    const a = (q: Uint8Array) => answer(q, [{ type: 'A', name: 'example.com', ttl: 300, data: '6.6.6.6' }]);
    const q = query('example.com', 'A', 77);
    expect(s.handleUpstreamResponse(upstream, a(q), 0)).toBe(false); // unsolicited
    s.handleQuery(q, SENTINEL, 0);
    expect(s.handleUpstreamResponse(other, a(q), 1)).toBe(false); // wrong upstream
    expect(s.handleUpstreamResponse(upstream, a(query('example.com', 'A', 78)), 1)).toBe(false); // wrong id
    expect(s.handleUpstreamResponse(upstream, a(q), 10_000)).toBe(false); // too late
    expect(s.handleQuery(q, SENTINEL, 10_001).kind).toBe('forward');
    expect(s.pollTimeout()).toBe(20_001);
    s.handleTimeout(20_001);
    expect(s.pollTimeout()).toBeUndefined();
    expect(s.handleUpstreamResponse(upstream, a(q), 20_002)).toBe(false);
  });

  it('answers FORMERR for undecodable queries with a header and drops shorter garbage and responses', () => {
    const s = resolver();
    const q = query('app.corp.internal', 'A', 0x4242);
    const broken = q.slice(0, q.length - 3);
    const res = respond(s.handleQuery(broken, SENTINEL, 0));
    expect([res.id, res.rcode]).toEqual([0x4242, 'FORMERR']);
    expect(s.handleQuery(new Uint8Array([1, 2, 3]), SENTINEL, 0).kind).toBe('drop');
    expect(s.handleQuery(answer(q, []), SENTINEL, 0).kind).toBe('drop');
    const twoQuestions = new Uint8Array(dnsPacket.encode({ id: 9, type: 'query', questions: [{ type: 'A', name: 'a.b' }, { type: 'A', name: 'c.d' }] }));
    expect(respond(s.handleQuery(twoQuestions, SENTINEL, 0)).rcode).toBe('FORMERR');
    const noQuestion = new Uint8Array(dnsPacket.encode({ id: 9, type: 'query', questions: [] }));
    expect(respond(s.handleQuery(noQuestion, SENTINEL, 0)).rcode).toBe('FORMERR');
  });

  it('answers NOTIMP for opcodes other than QUERY', () => {
    const notify = new Uint8Array(dnsPacket.encode({ id: 5, type: 'query', flags: 4 << 11, questions: [{ type: 'SOA', name: 'corp.internal' }] }));
    expect(respond(resolver().handleQuery(notify, SENTINEL, 0)).rcode).toBe('NOTIMP');
  });

  it('emits records-changed when a new resource overlaps a resolved name', () => {
    const s = resolver();
    respond(s.handleQuery(query('db.corp.internal', 'A'), SENTINEL, 0));
    while (s.pollEvent()) {
      /* drain */
    }
    s.addResource({ id: 'r-db', address: 'db.corp.internal', ipStack: 'dual' });
    expect(s.pollEvent()?.kind).toBe('records-changed');
    respond(s.handleQuery(query('db.corp.internal', 'A'), SENTINEL, 0));
    const ev = s.pollEvent();
    expect(ev?.records.find((r) => r.domain === 'db.corp.internal')?.resources).toEqual([
      ['**.corp.internal', 'r-wild'],
      ['db.corp.internal', 'r-db'],
    ]);
  });

  it('forgets proxy-IP owners when resources go away and reports the change', () => {
    const s = resolver();
    respond(s.handleQuery(query('app.corp.internal', 'A'), SENTINEL, 0));
    while (s.pollEvent()) {
      /* drain */
    }
    expect(s.lookupProxyIp('100.96.0.1')?.resourceId).toBe('r-app');
    s.removeResource('r-app');
    expect(s.pollEvent()?.records[0]?.resources).toEqual([['**.corp.internal', 'r-wild']]);
    expect(s.lookupProxyIp('100.96.0.1')?.resourceId).toBe('r-wild');
    s.setResources([]);
    expect(s.lookupProxyIp('100.96.0.1')).toBeUndefined();
    expect(s.resolvedResources()).toEqual([]);
  });

  it('ignores resources with invalid patterns', () => {
    const s = resolver();
    expect(s.addResource({ id: 'bad', address: 'a**.corp', ipStack: 'dual' })).toBe(false);
    s.setResources([{ id: 'r-app', address: 'app.corp.internal', ipStack: 'dual' }]);
    expect(s.handleQuery(query('x.corp.internal', 'A'), SENTINEL, 0).kind).toBe('forward');
  });
});
